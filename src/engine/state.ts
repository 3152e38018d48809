/**
 * The lab's state file, /run/netlab/<lab>/state.json: what the kernel cannot tell back
 * (chosen subnets, addresses and host ports, pids, the names an interrupted `up` was about to
 * create). Written atomically, root-only.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { labDir, stateFile } from '../paths.js';
import { writeAtomic } from '../kernel/host.js';
import type { Lab, PreviousAllocation } from '../model/lab.js';
import type { Stamps } from '../kernel/stamps.js';

export interface StateFile {
  version: 1;
  lab: string;
  /** The host whose share this is, in a multi-host lab. */
  host?: string;
  /** The topology file, or `<demo>`. */
  source: string;
  allocation: PreviousAllocation;
  planned: { netns: string[]; links: string[] };
  started: Record<string, { pid: number; specHash: string }>;
  /** The lab as last applied, for ps / inspect / exec. */
  resolved: Lab;
  /** Inode of the network namespace netlab ran in (the "host"); absent in files of older versions. */
  hostNetns?: number;
  /** Stamps of the lab's /etc files (kernel/stamps.ts): what the next `up` need not read again. */
  stamps?: Stamps;
  updatedAt: string;
}

export async function readState(lab: string, host?: string): Promise<StateFile | undefined> {
  try {
    const s = JSON.parse(await readFile(stateFile(lab, host), 'utf8')) as StateFile;
    return s.version === 1 ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Every share of a lab on this machine: the single-host state, or one per (simulated) host. */
export async function readShares(lab: string): Promise<StateFile[]> {
  const single = await readState(lab);
  if (single) return [single];
  const hosts = await readdir(join(labDir(lab), 'hosts')).catch(() => [] as string[]);
  const shares = await Promise.all(hosts.map((h) => readState(lab, h)));
  return shares.filter((s): s is StateFile => s !== undefined);
}

export async function writeState(s: StateFile): Promise<void> {
  await writeAtomic(stateFile(s.lab, s.host), JSON.stringify({ ...s, updatedAt: new Date().toISOString() }, null, 2) + '\n', 0o600);
}
