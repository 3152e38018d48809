/**
 * The lab's state file, /run/netlab/<lab>/state.json: what the kernel cannot tell back
 * (chosen subnets, addresses and host ports, pids, the names an interrupted `up` was about to
 * create). Written atomically, root-only.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { labDir, stateFile } from '../paths.js';
import { writeAtomic } from '../kernel/host.js';
import { existsSync } from 'node:fs';
import { buildId } from '../build.js';
import { fillHostsFiles, type Lab, type PreviousAllocation } from '../model/lab.js';
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
  /** Whether the containers' /etc/hosts have IPv6 lines: the file leaves those texts out (see labJson). */
  hostsIpv6?: boolean;
  /** The build of the /etc file renderers that wrote the lab's files (see RENDERER). */
  renderer?: string;
  updatedAt: string;
}

/** This build of the modules that render /etc files: a new netlab never trusts an old run's stamps as its own. */
export const RENDERER = buildId(['./model/etcfiles.js', './model/lab.js', './plan/desired.js', './model/mounts.js']);

/**
 * The lab as the state file keeps it: without the /etc/hosts texts, which follow from the rest
 * (fillHostsFiles) and would be nearly all of the file in a large lab (a line per container
 * in each container's file: 21 MB at 1000 containers, against 0.4 MB for everything else).
 */
export function labJson(lab: Lab): string {
  return JSON.stringify(lab, (key, value) => (key === 'hosts' && typeof value === 'string' ? undefined : value));
}

/** The state of a lab's share; `hosts: false` leaves the /etc/hosts texts out (up does not need them). */
export async function readState(lab: string, host?: string, opts: { hosts?: boolean } = {}): Promise<StateFile | undefined> {
  try {
    const s = JSON.parse(await readFile(stateFile(lab, host), 'utf8')) as StateFile;
    if (s.version !== 1) return undefined;
    if (opts.hosts !== false && s.resolved.containers.some((c) => c.files.hosts === undefined)) fillHostsFiles(s.resolved.containers, s.hostsIpv6 ?? existsSync('/proc/sys/net/ipv6'));
    return s;
  } catch {
    return undefined;
  }
}

/** Every share of a lab on this machine: the single-host state, or one per (simulated) host. */
export async function readShares(lab: string, opts: { hosts?: boolean } = {}): Promise<StateFile[]> {
  const single = await readState(lab, undefined, opts);
  if (single) return [single];
  const hosts = await readdir(join(labDir(lab), 'hosts')).catch(() => [] as string[]);
  const shares = await Promise.all(hosts.map((h) => readState(lab, h, opts)));
  return shares.filter((s): s is StateFile => s !== undefined);
}

export async function writeState(s: StateFile): Promise<void> {
  // The lab on one line (it is most of the file); the rest indented for a reader.
  const { resolved, ...rest } = s;
  const head = JSON.stringify({ ...rest, updatedAt: new Date().toISOString() }, null, 2);
  await writeAtomic(stateFile(s.lab, s.host), `${head.slice(0, -2)},\n  "resolved": ${labJson(resolved)}\n}\n`, 0o600);
}
