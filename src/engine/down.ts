/** `down`: remove every kernel object of the lab, found by its marks even without a state file. */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { shareHost } from './up.js';
import { loadTopology, type LoadOptions } from '../topology/load.js';
import { diff } from '../plan/diff.js';
import { emptyState } from '../plan/state.js';
import type { Op } from '../plan/ops.js';
import { observe } from '../kernel/observe.js';
import { applyOps } from '../kernel/apply.js';
import { selectBackend, type BackendName } from '../kernel/backend.js';
import { labDir, shareDir } from '../paths.js';
import { withHostLock } from './lock.js';
import { readState } from './state.js';
import { requireRoot } from './root.js';
import { LAB_NAME } from '../model/names.js';
import { InputError } from '../errors.js';

export interface DownOptions extends LoadOptions {
  /** The lab to remove, instead of the one the topology file names. */
  lab?: string;
  /** The host whose share to remove, in a multi-host lab. */
  host?: string;
  dryRun?: boolean;
  /** How to talk to the kernel: `netlink` (in-process, the default) or `iproute2` (the `ip` program); default NETLAB_BACKEND. */
  backend?: BackendName;
  onStep?: (ops: Op[]) => void;
}

export interface DownResult {
  lab: string;
  ops: Op[];
  ms: number;
}

export function labNameOf(opts: { lab?: string } & LoadOptions): string {
  if (opts.lab !== undefined) {
    if (!LAB_NAME.test(opts.lab)) throw new InputError([{ path: '--lab', message: `"${opts.lab}" is not a lab name` }]);
    return opts.lab;
  }
  return loadTopology(opts).name;
}

export async function down(opts: DownOptions = {}): Promise<DownResult> {
  const name = labNameOf(opts);
  const backend = selectBackend(opts.backend);
  requireRoot('down');
  return withHostLock('take the lab down', async () => {
    const started = performance.now();
    const host = opts.host ?? (opts.lab === undefined ? await hostOfFile(opts) : undefined);
    const prev = await readState(name, host);
    const want = emptyState(name);
    const seen = await observe({ lab: name, host, want, planned: prev?.planned ?? { netns: [], links: [] }, started: prev?.started ?? {} }, backend);
    const ops = diff(want, seen.state);
    if (opts.dryRun) return { lab: name, ops, ms: performance.now() - started };
    await applyOps(ops, { onStep: opts.onStep }, backend);
    await rm(shareDir(name, host), { recursive: true, force: true });
    // The lab's folder goes with its last share (uts and logs of its containers are in it).
    if (!host || (await readdir(join(labDir(name), 'hosts')).catch(() => [])).length === 0) await rm(labDir(name), { recursive: true, force: true });
    return { lab: name, ops, ms: performance.now() - started };
  });
}

/** For a multi-host lab's file, this machine's host (as `up` finds it). */
async function hostOfFile(opts: LoadOptions): Promise<string | undefined> {
  const topo = loadTopology(opts);
  return topo.hosts.length ? shareHost(topo, undefined) : undefined;
}
