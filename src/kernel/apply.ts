/**
 * Carries out a plan: its Ops as steps (plan/steps.ts, which decides what groups and what waits
 * for what), each step started as soon as the steps it waits for are done. A step's Ops go to
 * one executor: the link executor as one batch, ovs-vsctl, the second thread (beside.ts) for
 * /etc files and UTS namespaces, or one Op at a time, side by side for a step of many.
 * `onStep` reports progress.
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { log } from '../log.js';
import type { LinkOp, Op, OvsOp } from '../plan/ops.js';
import { planSteps, type Step } from '../plan/steps.js';
import { applyOvs } from './ovs.js';
import { applyFirewall } from './firewall.js';
import { flushConntrack, flushConntrackRange } from './conntrack.js';
import { removePath, writeSysctl } from './host.js';
import { writeStamped } from './filewrite.js';
import { runBeside } from './beside.js';
import { mountedUts } from './uts.js';
import { addMnt, removeMnt } from './mnt.js';
import { addMntsInProcess } from './mntns.js';
import { stopProcesses } from './processes.js';
import { applyTc } from './tc.js';
import { startMonitor, startMonitors } from './monitor.js';
import type { KernelBackend } from './backend.js';
import { mapLimit } from './run.js';
import { KernelError } from '../errors.js';
import { NotOwnPathError } from './ownfs.js';
import { runSteps } from './schedule.js';

export { ApplyInterrupted } from './schedule.js';

export interface ApplyHooks {
  /** Called before each step runs, with its Ops and those of the steps beside it. */
  onStep?: (ops: Op[]) => void;
  /** Called with each started process's pid. */
  onStarted?: (container: string, pid: number, specHash: string) => void;
  /** Called with the stamps (kernel/stamps.ts) of /etc files as they are written. */
  onFilesWritten?: (stamps: Record<string, string>) => void;
  /** When aborted (Ctrl-C), the steps in hand finish and no other starts: ApplyInterrupted is thrown. */
  signal?: AbortSignal;
}

/**
 * Fault injection for the crash tests: NETLAB_FAULT_AFTER=<op kind>[:<n>] sends this process
 * NETLAB_FAULT_SIGNAL (default SIGKILL) right after the n-th Op of that kind (default the first).
 * SIGINT goes to the whole process group, as a terminal's Ctrl-C does.
 */
export function faultIndex(ops: Op[], spec = process.env.NETLAB_FAULT_AFTER): number | undefined {
  if (!spec) return undefined;
  const [kind, nText] = spec.split(':');
  const n = nText ? Number(nText) : 1;
  let seen = 0;
  const i = ops.findIndex((op) => op.kind === kind && ++seen === n);
  return i < 0 ? undefined : i;
}

function injectFault(): void {
  const signal = (process.env.NETLAB_FAULT_SIGNAL ?? 'SIGKILL') as NodeJS.Signals;
  process.kill(signal === 'SIGINT' ? 0 : process.pid, signal);
}

type FileWrite = Extract<Op, { kind: 'file.write' }>;
type UtsAdd = Extract<Op, { kind: 'uts.add' }>;
type MntAdd = Extract<Op, { kind: 'mnt.add' }>;
type ProcessStart = Extract<Op, { kind: 'process.start' }>;

export async function applyOps(ops: Op[], hooks: ApplyHooks, backend: KernelBackend): Promise<void> {
  const fault = faultIndex(ops);
  // The fault comes right after that very Op: its step ends there and nothing runs beside it.
  const steps = planSteps(ops, { utsBeside: backend.utsInProcess, cutAfter: fault });
  const faultStep = fault === undefined ? undefined : steps.find((s) => s.ops.includes(ops[fault]!));
  const beside = new Map<number, Op[]>();
  for (const s of steps) if (s.beside !== undefined) beside.set(s.beside, [...(beside.get(s.beside) ?? []), ...s.ops]);
  await runSteps(
    steps,
    async (step) => {
      if (step.beside === undefined) hooks.onStep?.([...step.ops, ...(beside.get(step.id) ?? [])]);
      // The work beside a link step gets going first: handing the files to the thread is synchronous work.
      if (beside.has(step.id)) await new Promise((r) => setImmediate(r));
      await applyStep(step, hooks, backend);
      if (step === faultStep) injectFault();
    },
    hooks.signal,
  );
}

/** Carries out one step with its executor, and logs it. */
async function applyStep(step: Step, hooks: ApplyHooks, backend: KernelBackend): Promise<void> {
  const started = performance.now();
  const group = step.ops;
  const op = group[0]!;
  if (step.run === 'thread') return applyThread(group as (FileWrite | UtsAdd)[], hooks, started);
  if (step.run === 'links') await backend.applyLinks(group as LinkOp[]);
  else if (step.run === 'ovs') await applyOvs(group as OvsOp[]);
  // Every container's command gets its SIGTERM at once, and they are waited for together.
  else if (step.run === 'stop') await stopAll(group as Extract<Op, { kind: 'process.stop' }>[]);
  else if (op.kind === 'mnt.add' && backend.mntInProcess) await addMntsInProcess(group as MntAdd[]);
  // One process forks every monitor (node's spawn costs milliseconds each).
  else if (op.kind === 'process.start') await startMonitors(group as ProcessStart[], (o, pid) => hooks.onStarted?.((o as ProcessStart).container, pid, (o as ProcessStart).specHash));
  else if (step.run === 'serial') for (const o of group) await applyOne(o, hooks, backend, undefined);
  else if (group.length === 1) await applyOne(op, hooks, backend, undefined);
  else {
    const mounted = op.kind === 'uts.add' ? mountedUtsIn(group) : undefined;
    await mapLimit(group, 16, (o) => applyOne(o, hooks, backend, mounted));
  }
  const more = step.beside !== undefined ? { beside: 'link' } : op.kind === 'kernel.reap' ? { links: op.links.length } : { target: group.length === 1 ? targetOf(op) : undefined };
  logApplied(group, started, more);
}

/**
 * The /etc files and (with a backend that makes them in-process) UTS namespaces written by the
 * second thread beside a link step. The stamps of the files written are kept whatever failed.
 */
async function applyThread(ops: (FileWrite | UtsAdd)[], hooks: ApplyHooks, started: number): Promise<void> {
  const files = ops.filter((o): o is FileWrite => o.kind === 'file.write');
  const uts = ops.filter((o): o is UtsAdd => o.kind === 'uts.add');
  const mounted = uts.length > 0 ? mountedUtsIn(uts) : new Set<string>();
  const r = await runBeside({
    files: files.map((o) => ({ path: o.path, content: o.content, pieces: o.pieces })),
    uts: uts.map((o) => ({ path: o.path, hostname: o.hostname, mounted: mounted.has(o.path) })),
  });
  hooks.onFilesWritten?.(r.stamps);
  for (const group of [files, uts]) if (group.length > 0) logApplied(group, started, { beside: 'link' });
  if (r.failure?.what === 'file') throw fileError(r.failure.path, r.failure.message);
  if (r.failure) {
    const { path, message } = r.failure;
    throw new KernelError(`hostname ${uts.find((o) => o.path === path)?.hostname} in ${path}: ${message}`, `unshare --uts=${path}`);
  }
}

function logApplied(group: Op[], started: number, more: Record<string, unknown>): void {
  const kinds = [...new Set(group.map((o) => o.kind))];
  log().debug({ ops: group.length, op: kinds.length === 1 ? kinds[0] : undefined, kinds: kinds.join(','), ...more, ms: elapsed(started) }, 'applied');
}

/** A file netlab could not write: something on the host is in the way (a file where its folder goes, a full disk). */
const fileError = (path: string, message: string) => new KernelError(`cannot write ${path}: ${message}`, `cat > ${path}`);

/** Stops commands together: their monitors first (or they would restart them), then one grace for all. */
function stopAll(stops: Extract<Op, { kind: 'process.stop' }>[]): Promise<void> {
  const monitors = stops.flatMap((o) => (o.monitor ? [o.monitor] : []));
  return stopProcesses(
    stops.flatMap((o) => o.pids),
    undefined,
    monitors,
  );
}

const elapsed = (since: number) => Math.round((performance.now() - since) * 10) / 10;

/** What an Op works on, for the debug log. */
function targetOf(op: Op): string {
  if ('path' in op) return op.path;
  if ('key' in op) return op.key;
  if ('container' in op) return op.container;
  return 'lab' in op ? op.lab : '';
}

/**
 * Waits for the kernel to remove host veths whose namespaces were deleted (its netns cleanup
 * runs in a workqueue); deletes whatever is still there after the deadline, for instance
 * because a process outside netlab still holds the namespace open.
 */
async function reap(links: string[], backend: KernelBackend): Promise<void> {
  const deadline = Date.now() + 5000 + 10 * links.length;
  const present = (l: string) => existsSync(`/sys/class/net/${l}`);
  let left = links.filter(present);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
    // The kernel removes the veths of many namespaces in one batch: while the first one left is
    // still there, the others are not looked at (1000 stats every 10 ms took the main thread
    // 80 ms of a `down`, beside the UTS namespaces and files it removes meanwhile).
    if (!present(left[0]!)) left = left.filter(present);
  }
  left = left.filter(present);
  if (left.length > 0) {
    log().info({ links: left.length }, 'veths outlived their namespaces; deleting them');
    // One by one: the kernel may still take one between the look and the delete, which is fine.
    for (const name of left) {
      try {
        await backend.applyLinks([{ kind: 'link.del', name }]);
      } catch (e) {
        if (present(name)) throw e;
      }
    }
  }
}

/** UTS namespace files already mounted in the folders of these Ops: read once, not once per Op. */
function mountedUtsIn(ops: Op[]): Set<string> {
  const dirs = new Set(ops.map((o) => dirname((o as { path: string }).path)));
  return new Set([...dirs].flatMap((d) => mountedUts(d)));
}

async function applyOne(op: Op, hooks: ApplyHooks, backend: KernelBackend, mounted: Set<string> | undefined): Promise<void> {
  switch (op.kind) {
    case 'sysctl.set':
      return writeSysctl(op.key, op.value);
    case 'file.write': {
      let stamp: string | undefined;
      try {
        stamp = writeStamped(op.path, op.content);
      } catch (e) {
        throw e instanceof NotOwnPathError ? e : fileError(op.path, (e as Error).message);
      }
      if (stamp !== undefined) hooks.onFilesWritten?.({ [op.path]: stamp });
      return;
    }
    case 'file.del':
      return removePath(op.path);
    case 'uts.add':
      return backend.setUts(op.path, op.hostname, (mounted ?? mountedUtsIn([op])).has(op.path));
    case 'uts.del':
      return backend.removeUts(op.path);
    case 'mnt.add':
      return addMnt(op.path, op.ns, op.script, op.fstab, op.hash);
    case 'mnt.del':
      return removeMnt(op.path, (path) => backend.removeNsFile(path));
    case 'firewall.apply':
      return applyFirewall(op.want, op.have);
    case 'firewall.remove':
      return applyFirewall(undefined, op.have);
    case 'kernel.reap':
      return reap(op.links, backend);
    case 'conntrack.flush':
      return op.portEnd === undefined ? flushConntrack(op.proto, op.port, op.family) : flushConntrackRange(op.proto, op.port, op.portEnd, op.family);
    case 'process.stop':
      return stopProcesses(op.pids, undefined, op.monitor);
    case 'tc.set':
      return applyTc(op);
    case 'process.start': {
      const pid = startMonitor(op);
      hooks.onStarted?.(op.container, pid, op.specHash);
      return;
    }
    default:
      throw new Error(`no executor for ${op.kind}`);
  }
}
