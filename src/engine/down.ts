/** `down`: remove every kernel object of the lab, found by its marks even without a state file. */
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { loadTopologyCached } from '../topology/cache.js';
import type { LoadOptions } from '../topology/source.js';
import type { Topology } from '../topology/types.js';
import { diff } from '../plan/diff.js';
import { emptyState } from '../plan/state.js';
import type { Op } from '../plan/ops.js';
import { labsOnHost, observe, readFirewalls } from '../kernel/observe.js';
import { selectBackend, type BackendName, type KernelBackend } from '../kernel/backend.js';
import { hostNetnsId, readSysctl } from '../kernel/host.js';
import { mountedUts } from '../kernel/uts.js';
import { mountedMnt, releasePrivateDir } from '../kernel/mnt.js';
import { notOwn } from '../kernel/ownfs.js';
import { labDir, RUN_DIR, shareDir, stateFile } from '../paths.js';
import { withHostLock } from './lock.js';
import { readShares, readState } from './state.js';
import { labSource, requireSameSource } from './labsource.js';
import { readHostRecord, writeHostRecord } from './hostrecord.js';
import { requireRoot } from './root.js';
import { LAB_NAME } from '../model/names.js';
import { InputError, InterruptedError } from '../errors.js';
import { stopResolver } from '../dns/lifecycle.js';
import { stopProxy } from '../proxy/lifecycle.js';
import { ABSENT, onErrno } from '../kernel/errno.js';
import { shareHost } from './share.js';

export interface DownOptions extends LoadOptions {
  /** The lab to remove, instead of the one the topology file names. */
  lab?: string;
  /** The host whose share to remove, in a multi-host lab. */
  host?: string;
  dryRun?: boolean;
  /** How to talk to the kernel: `netlink` (in-process, the default) or `iproute2` (the `ip` program); default NETLAB_BACKEND. */
  backend?: BackendName;
  /** Called with every Op before any is applied (progress reporting). */
  onPlan?: (ops: Op[], lab: string) => void;
  onStep?: (ops: Op[]) => void;
  /** Aborting it (Ctrl-C) stops the run after the step in hand. */
  signal?: AbortSignal;
  /** Take the lab the file names down even when it was built from another file. */
  force?: boolean;
}

export interface DownResult {
  lab: string;
  ops: Op[];
  ms: number;
  /** Objects with the lab's names that it did not make: left alone, and named here. */
  foreign: string[];
}

export async function labNameOf(opts: { lab?: string } & LoadOptions): Promise<string> {
  if (opts.lab !== undefined) {
    if (!LAB_NAME.test(opts.lab)) throw new InputError([{ path: '--lab', message: `"${opts.lab}" is not a lab name (1-16 of a-z 0-9 _ -)` }]);
    return opts.lab;
  }
  return (await loadTopologyCached(opts)).name;
}

export async function down(opts: DownOptions = {}): Promise<DownResult> {
  // The file (when it names the lab) is loaded once, for the lab's name and this machine's host.
  const topo = opts.lab === undefined ? await loadTopologyCached(opts) : undefined;
  const name = topo?.name ?? (await labNameOf(opts));
  const backend = selectBackend(opts.backend);
  requireRoot('down');
  return withHostLock('take the lab down', async () => {
    const host = opts.host ?? (topo ? await hostOfFile(topo) : undefined);
    // Named by a file, the lab must be that file's (a lab named with --lab is the user's choice).
    const source = topo && !opts.force ? labSource(opts, topo) : undefined;
    return downLocked(name, host, opts, backend, source);
  });
}

/** For a multi-host lab's file, this machine's host (as `up` finds it). */
async function hostOfFile(topo: Topology): Promise<string | undefined> {
  return topo.hosts.length ? shareHost(topo, undefined) : undefined;
}

/**
 * `down --all`: every lab of this host, found by its marks on the links and firewall rules of
 * this network namespace, or by a state file that names this host (a run killed before it made
 * any link). A lab of which only container namespaces are left and whose state file is gone is
 * not found here: `netlab down --lab NAME` finds it by the marks inside its namespaces.
 */
export async function downAll(opts: Omit<DownOptions, 'lab' | 'file'> = {}): Promise<DownResult[]> {
  const backend = selectBackend(opts.backend);
  requireRoot('down');
  return withHostLock('take every lab down', async () => {
    const labs = [...(await allLabs())].sort(([a], [b]) => a.localeCompare(b));
    const results: DownResult[] = [];
    for (const [lab, host] of labs) results.push(await downLocked(lab, host, opts, backend));
    return results;
  });
}

/** Labs of this host, with the host share that runs here (for a multi-host lab). */
async function allLabs(): Promise<Map<string, string | undefined>> {
  const labs = new Map<string, string | undefined>([...(await labsOnHost())].map((l) => [l, undefined]));
  const here = await hostNetnsId();
  for (const name of await readdir(RUN_DIR).catch(onErrno(ABSENT, [] as string[]))) {
    if (name.startsWith('.') || !LAB_NAME.test(name)) continue;
    for (const s of await readShares(name, { hosts: false })) if (s.hostNetns === here) labs.set(name, s.host);
  }
  return labs;
}

async function downLocked(name: string, host: string | undefined, opts: DownOptions, backend: KernelBackend, source?: string): Promise<DownResult> {
  const started = performance.now();
  // Only what the last run planned and started is used: not the /etc/hosts texts (N² bytes) rebuilt.
  // The firewall programs (iptables-save: the longest read of a large lab) start first.
  const firewallReads = readFirewalls(name, existsSync(stateFile(name, host)));
  const prev = await readState(name, host, { hosts: false });
  if (source !== undefined) requireSameSource(name, prev?.source, source, 'down');
  const want = emptyState(name);
  const seen = await observe({ lab: name, host, want, last: prev, hints: { firewallReads } }, backend);
  const ops = diff(want, seen.state);
  const { ops: restore, last } = await restoreOps(name, seen.labsHere);
  const all = [...ops, ...restore];
  if (opts.dryRun) return { lab: name, ops: all, ms: performance.now() - started, foreign: seen.foreign };
  opts.onPlan?.(ops, name);
  // First the resolver: its sockets would keep the containers' namespaces alive.
  await stopResolver(name, host);
  await stopProxy(name, host);
  if (ops.length > 0) await removeObjects(name, ops, opts, backend);
  // The folder of the mount namespaces is bound on itself: unbound once it holds none.
  await releasePrivateDir(join(labDir(name), 'mnt'));
  // A symbolic link planted in the folder's place is left (observe named it): never removed behind.
  if (!notOwn(shareDir(name, host), 'folder')) await rm(shareDir(name, host), { recursive: true, force: true });
  // The lab's folder goes with its last share (uts and logs of its containers are in it).
  if ((!host || !(await otherHostsLeft(name, host))) && !notOwn(labDir(name), 'folder')) await rm(labDir(name), { recursive: true, force: true });
  if (restore.length > 0) await (await import('../kernel/apply.js')).applyOps(restore, { onStep: opts.onStep }, backend);
  if (last) await writeHostRecord({ version: 1, sysctls: {} });
  return { lab: name, ops: all, ms: performance.now() - started, foreign: seen.foreign };
}

/** Applies the removal; interrupted, says what state the lab is in. The executors load only here: a `down` of nothing never pays for them. */
async function removeObjects(name: string, ops: Op[], opts: DownOptions, backend: KernelBackend): Promise<void> {
  const { applyOps, ApplyInterrupted } = await import('../kernel/apply.js');
  try {
    await applyOps(ops, { onStep: opts.onStep, signal: opts.signal }, backend);
  } catch (e) {
    if (!(e instanceof ApplyInterrupted)) throw e;
    throw new InterruptedError(`${e.message}: lab ${name} is partly down. Run "netlab down" to finish removing it, or "netlab up" to restore it.`);
  }
}

/**
 * Whether another host of a multi-host lab still keeps things in the lab's folder: a state file,
 * a UTS namespace of its containers, or its simulated Open vSwitch. A replayed `explain
 * --simulate` script writes no state files, so the state files alone do not tell.
 */
async function otherHostsLeft(lab: string, host: string): Promise<boolean> {
  if ((await readdir(join(labDir(lab), 'hosts')).catch(onErrno(ABSENT, []))).length > 0) return true;
  if ((await readdir(join(labDir(lab), 'ovs')).catch(onErrno(ABSENT, [] as string[]))).some((h) => h !== host)) return true;
  return mountedUts(join(labDir(lab), 'uts')).length > 0 || mountedMnt(join(labDir(lab), 'mnt')).length > 0;
}

/** When no other lab is left on this host: put back the host-wide sysctls the first lab changed. */
async function restoreOps(lab: string, labsHere: Set<string> | undefined): Promise<{ ops: Op[]; last: boolean }> {
  const record = await readHostRecord();
  if (Object.keys(record.sysctls).length === 0) return { ops: [], last: false };
  // The labs the observation saw (under the host lock, so nothing else changed since): no second read.
  const others = [...(labsHere ?? (await labsOnHost()))].filter((l) => l !== lab);
  if (others.length > 0) return { ops: [], last: false };
  const ops: Op[] = [];
  for (const [key, value] of Object.entries(record.sysctls)) {
    if ((await readSysctl(key)) !== value) ops.push({ kind: 'sysctl.set', key, value });
  }
  return { ops, last: true };
}
