/**
 * Carries out a list of Ops in order. Consecutive link Ops go to the backend's link executor
 * as one batch; consecutive Ops of one kind that touch different objects (files, UTS
 * namespaces) run side by side; everything else one Op at a time. `onStep` reports progress.
 * Two kinds of work run beside others: while a link step makes the links, the /etc files and
 * UTS namespaces that follow it are made by a second thread (beside.ts) and the firewall's
 * transaction runs; and a reap (the kernel removing the veths of deleted namespaces) goes on
 * while the UTS namespaces and files that follow it are removed.
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { log } from '../log.js';
import { isLinkOp, isOvsOp, type LinkOp, type Op, type OvsOp } from '../plan/ops.js';
import { applyOvs } from './ovs.js';
import { applyFirewall } from './firewall.js';
import { flushConntrack, flushConntrackRange } from './conntrack.js';
import { removePath, writeSysctl } from './host.js';
import { writeStamped } from './filewrite.js';
import { runBeside, type BesideDone, type UtsToMake } from './beside.js';
import { mountedUts } from './uts.js';
import { addMnt, removeMnt } from './mnt.js';
import { stopProcesses } from './processes.js';
import { applyTc } from './tc.js';
import { startMonitor } from './monitor.js';
import type { KernelBackend } from './backend.js';
import { mapLimit } from './run.js';
import { KernelError } from '../errors.js';
import { NotOwnPathError } from './ownfs.js';

export interface ApplyHooks {
  /** Called before each group of Ops runs. */
  onStep?: (ops: Op[]) => void;
  /** Called with each started process's pid. */
  onStarted?: (container: string, pid: number, specHash: string) => void;
  /** Called with the stamps (kernel/stamps.ts) of /etc files as they are written. */
  onFilesWritten?: (stamps: Record<string, string>) => void;
  /** When aborted (Ctrl-C), the Op in hand finishes and no other starts: ApplyInterrupted is thrown. */
  signal?: AbortSignal;
}

/** The run was interrupted between two Ops; `done` of `total` were applied. */
export class ApplyInterrupted extends Error {
  constructor(
    readonly done: number,
    readonly total: number,
  ) {
    super(`interrupted after ${done} of ${total} changes`);
  }
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

/** Kinds whose consecutive Ops are independent of each other (a folder's removal is its own group, after its files). */
const SIDE_BY_SIDE = new Set(['file.write', 'file.del', 'uts.add', 'uts.del', 'mnt.add', 'mnt.del']);
const groupKey = (op: Op) =>
  isLinkOp(op) ? 'link' : isOvsOp(op) ? 'ovs' : op.kind === 'process.stop' ? 'stop' : SIDE_BY_SIDE.has(op.kind) ? `${op.kind}${'dir' in op && op.dir ? '/dir' : ''}` : undefined;

/** What may run while the kernel removes the veths of deleted namespaces (kernel.reap): it touches no link. */
const BESIDE_REAP = new Set(['uts.del', 'file.del']);

/**
 * What the work beside a link step may pass over in the plan: Ops that touch no file, no UTS
 * namespace and no firewall rule of those it takes (the links themselves, OVS, sysctls), and the
 * kinds it takes. None of them needs another: a file names a namespace's folder, not the
 * namespace; a UTS namespace is a file of its own; a rule names a link, which need not exist yet.
 */
const PASSABLE = (op: Op) =>
  isLinkOp(op) || isOvsOp(op) || op.kind === 'sysctl.set' || op.kind === 'uts.add' || op.kind === 'file.write' || op.kind === 'firewall.apply' || op.kind === 'firewall.remove';

type FileWrite = Extract<Op, { kind: 'file.write' }>;
type UtsAdd = Extract<Op, { kind: 'uts.add' }>;
type FirewallOp = Extract<Op, { kind: 'firewall.apply' | 'firewall.remove' }>;

/** Work going on beside a link step: the indexes of its Ops, which the loop then skips. */
interface Beside {
  indexes: Set<number>;
  ops: Op[];
  files: FileWrite[];
  uts: UtsAdd[];
  firewall: FirewallOp[];
  /** The second thread's files and UTS namespaces. */
  thread?: Promise<BesideDone>;
  /** The firewall's transactions, one after the other. */
  rules?: Promise<void>;
  started: number;
}

export async function applyOps(ops: Op[], hooks: ApplyHooks, backend: KernelBackend): Promise<void> {
  const fault = faultIndex(ops);
  // A reap waits for the kernel's cleanup; the UTS namespaces and files that follow it go meanwhile.
  let reaping: Promise<void> | undefined;
  let beside: Beside | undefined;
  const besideDone = async () => {
    const b = beside;
    beside = undefined;
    if (b) await finishBeside(b, hooks);
  };
  try {
    for (let i = 0; i < ops.length; ) {
      if (hooks.signal?.aborted) throw new ApplyInterrupted(i, ops.length);
      const op = ops[i]!;
      if (beside?.indexes.has(i)) {
        i++;
        continue;
      }
      if (beside && !PASSABLE(op)) await besideDone();
      if (reaping && !BESIDE_REAP.has(op.kind)) {
        const r = reaping;
        reaping = undefined;
        await r;
      }
      if (op.kind === 'kernel.reap' && fault !== i) {
        hooks.onStep?.([op]);
        const started = performance.now();
        reaping = reap(op.links, backend).then(() => log().debug({ ops: 1, op: op.kind, kinds: op.kind, ms: elapsed(started), links: op.links.length }, 'applied'));
        reaping.catch(() => undefined); // awaited later; not an unhandled rejection meanwhile
        i++;
        continue;
      }
      let alongside: Op[] = [];
      if (!beside && groupKey(op) === 'link') {
        beside = startBeside(ops, i, fault, hooks, backend);
        alongside = beside?.ops ?? [];
      }
      i = await applyGroup(ops, i, fault, hooks, backend, alongside);
    }
    await besideDone();
  } finally {
    await reaping;
    // Interrupted, or a failed link step: the work in hand finishes, and the stamps of the files written are kept.
    const [r] = await Promise.all([beside?.thread?.catch(() => undefined), beside?.rules?.catch(() => undefined)]);
    if (r) hooks.onFilesWritten?.(r.stamps);
  }
}

/**
 * Starts what can go beside the link group at `i`: the files, UTS namespaces and firewall Ops
 * after it that only pass PASSABLE Ops. UTS namespaces go to the thread only with a backend
 * that makes them in-process; otherwise the loop makes them as before, while the thread writes.
 */
function startBeside(ops: Op[], i: number, fault: number | undefined, hooks: ApplyHooks, backend: KernelBackend): Beside | undefined {
  const b: Beside = { indexes: new Set(), ops: [], files: [], uts: [], firewall: [], started: performance.now() };
  for (let k = i + 1; k < ops.length && PASSABLE(ops[k]!); k++) {
    const op = ops[k]!;
    if (op.kind === 'file.write') b.files.push(op);
    else if (op.kind === 'uts.add' && backend.utsInProcess) b.uts.push(op);
    else if (op.kind === 'firewall.apply' || op.kind === 'firewall.remove') b.firewall.push(op);
    else continue;
    b.indexes.add(k);
    b.ops.push(op);
  }
  // A fault injected after one of these must come right after that very Op: those go one by one.
  if (b.indexes.size === 0 || (fault !== undefined && b.indexes.has(fault))) return undefined;
  if (b.files.length + b.uts.length > 0) {
    const mounted = b.uts.length > 0 ? mountedUtsIn(b.uts) : new Set<string>();
    const uts: UtsToMake[] = b.uts.map((o) => ({ path: o.path, hostname: o.hostname, mounted: mounted.has(o.path) }));
    b.thread = runBeside({ files: b.files.map((o) => ({ path: o.path, content: o.content, pieces: o.pieces })), uts });
    b.thread.catch(() => undefined); // awaited later
  }
  if (b.firewall.length > 0) {
    b.rules = (async () => {
      for (const op of b.firewall) await applyOne(op, hooks, backend, undefined);
    })();
    b.rules.catch(() => undefined); // awaited later
  }
  return b;
}

async function finishBeside(b: Beside, hooks: ApplyHooks): Promise<void> {
  // Both finish first: the stamps of the files written are kept whatever failed.
  const [thread, rules] = await Promise.allSettled([b.thread, b.rules]);
  if (thread.status === 'rejected') throw thread.reason;
  const r = thread.value;
  if (r) hooks.onFilesWritten?.(r.stamps);
  for (const group of [b.files, b.uts, b.firewall]) {
    const kinds = [...new Set(group.map((o) => o.kind))];
    if (group.length > 0) log().debug({ ops: group.length, op: kinds.length === 1 ? kinds[0] : undefined, kinds: kinds.join(','), ms: elapsed(b.started), beside: 'link' }, 'applied');
  }
  if (r?.failure?.what === 'file') throw fileError(r.failure.path, r.failure.message);
  if (r?.failure) {
    const { path, message } = r.failure;
    throw new KernelError(`hostname ${b.uts.find((o) => o.path === path)?.hostname} in ${path}: ${message}`, `unshare --uts=${path}`);
  }
  if (rules.status === 'rejected') throw rules.reason;
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

/** Applies the group of Ops that starts at `i`; returns where the next begins. */
async function applyGroup(ops: Op[], i: number, fault: number | undefined, hooks: ApplyHooks, backend: KernelBackend, beside: Op[] = []): Promise<number> {
  const op = ops[i]!;
  const key = groupKey(op);
  let j = i + 1;
  // A group ends at the fault point, so that the fault comes right after that very Op.
  if (key !== undefined) while (j < ops.length && groupKey(ops[j]!) === key && (fault === undefined || fault < i || j <= fault)) j++;
  const group = ops.slice(i, j);
  hooks.onStep?.(beside.length > 0 ? [...group, ...beside] : group);
  const started = performance.now();
  if (key === 'link') await backend.applyLinks(group as LinkOp[]);
  else if (key === 'ovs') await applyOvs(group as OvsOp[]);
  // Every container's command gets its SIGTERM at once, and they are waited for together.
  else if (key === 'stop') await stopAll(group as Extract<Op, { kind: 'process.stop' }>[]);
  else if (group.length === 1) await applyOne(op, hooks, backend, undefined);
  else {
    const mounted = op.kind === 'uts.add' ? mountedUtsIn(group) : undefined;
    await mapLimit(group, 16, (o) => applyOne(o, hooks, backend, mounted));
  }
  const kinds = [...new Set(group.map((o) => o.kind))];
  log().debug({ ops: group.length, op: kinds.length === 1 ? kinds[0] : undefined, kinds: kinds.join(','), target: group.length === 1 ? targetOf(op) : undefined, ms: elapsed(started) }, 'applied');
  if (fault !== undefined && fault >= i && fault < j) injectFault();
  return j;
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
