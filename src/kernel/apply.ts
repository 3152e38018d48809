/**
 * Carries out a list of Ops in order. Consecutive link Ops go to the backend's link executor
 * as one batch; consecutive Ops of one kind that touch different objects (files, UTS
 * namespaces) run side by side; everything else one Op at a time. `onStep` reports progress.
 * Two kinds of work run beside others: the /etc files that follow a link step are written by a
 * worker thread while the links are made, and a reap (the kernel removing the veths of deleted
 * namespaces) goes on while the UTS namespaces and files that follow it are removed.
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { log } from '../log.js';
import { isLinkOp, isOvsOp, type LinkOp, type Op, type OvsOp } from '../plan/ops.js';
import { applyOvs } from './ovs.js';
import { applyIptables } from './iptables.js';
import { applyNftables } from './nftables.js';
import { flushConntrack } from './conntrack.js';
import { removePath, writeSysctl } from './host.js';
import { writeAllInWorker, writeStamped, type FilesWritten } from './filewrite.js';
import { mountedUts } from './uts.js';
import { startProcess, stopProcesses } from './processes.js';
import type { KernelBackend } from './backend.js';
import { mapLimit } from './run.js';
import { KernelError } from '../errors.js';

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
const SIDE_BY_SIDE = new Set(['file.write', 'file.del', 'uts.add', 'uts.del']);
const groupKey = (op: Op) => (isLinkOp(op) ? 'link' : isOvsOp(op) ? 'ovs' : SIDE_BY_SIDE.has(op.kind) ? `${op.kind}${'dir' in op && op.dir ? '/dir' : ''}` : undefined);

/** What may run while the kernel removes the veths of deleted namespaces (kernel.reap): it touches no link. */
const BESIDE_REAP = new Set(['uts.del', 'file.del']);

/**
 * What the /etc files written beside a link step may pass over in the plan: Ops that touch no
 * file (the links themselves, OVS, sysctls, UTS namespaces). The files wait for nothing they
 * pass: a file names a namespace's folder, not the namespace.
 */
const BESIDE_FILES = (op: Op) => isLinkOp(op) || isOvsOp(op) || op.kind === 'sysctl.set' || op.kind === 'uts.add';

/** Files being written by the worker: the indexes of their Ops, which the loop then skips. */
interface FilesBeside {
  indexes: Set<number>;
  written: Promise<FilesWritten>;
  ops: Extract<Op, { kind: 'file.write' }>[];
  started: number;
}

export async function applyOps(ops: Op[], hooks: ApplyHooks, backend: KernelBackend): Promise<void> {
  const fault = faultIndex(ops);
  // A reap waits for the kernel's cleanup; the UTS namespaces and files that follow it go meanwhile.
  let reaping: Promise<void> | undefined;
  let files: FilesBeside | undefined;
  const filesWritten = async () => {
    const f = files;
    files = undefined;
    if (f) await filesDone(f, hooks);
  };
  try {
    for (let i = 0; i < ops.length; ) {
      if (hooks.signal?.aborted) throw new ApplyInterrupted(i, ops.length);
      const op = ops[i]!;
      if (files?.indexes.has(i)) {
        i++;
        continue;
      }
      if (files && !BESIDE_FILES(op)) await filesWritten();
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
      let beside: Op[] = [];
      if (!files && groupKey(op) === 'link') {
        files = filesBeside(ops, i, fault);
        beside = files?.ops ?? [];
      }
      i = await applyGroup(ops, i, fault, hooks, backend, beside);
    }
    await filesWritten();
  } finally {
    await reaping;
    // Interrupted, or a failed link step: the files in hand finish, and their stamps are kept.
    const r = await files?.written.catch(() => undefined);
    if (r) hooks.onFilesWritten?.(r.stamps);
  }
}

/** Starts the worker on the file.write Ops after the link group at `i` that only pass Ops BESIDE_FILES. */
function filesBeside(ops: Op[], i: number, fault: number | undefined): FilesBeside | undefined {
  const indexes = new Set<number>();
  for (let k = i + 1; k < ops.length; k++) {
    const op = ops[k]!;
    if (op.kind === 'file.write') indexes.add(k);
    else if (!BESIDE_FILES(op)) break;
  }
  // A fault injected after a file must come right after that very file: those go one by one.
  if (indexes.size === 0 || (fault !== undefined && indexes.has(fault))) return undefined;
  const fileOps = [...indexes].map((k) => ops[k] as Extract<Op, { kind: 'file.write' }>);
  const written = writeAllInWorker(fileOps.map((o) => ({ path: o.path, content: o.content })));
  written.catch(() => undefined); // awaited later
  return { indexes, written, ops: fileOps, started: performance.now() };
}

async function filesDone(f: FilesBeside, hooks: ApplyHooks): Promise<void> {
  const r = await f.written;
  hooks.onFilesWritten?.(r.stamps);
  log().debug({ ops: f.ops.length, op: 'file.write', kinds: 'file.write', ms: elapsed(f.started), beside: 'link' }, 'applied');
  if (r.failure) throw fileError(r.failure.path, r.failure.message);
}

/** A file netlab could not write: something on the host is in the way (a file where its folder goes, a full disk). */
const fileError = (path: string, message: string) => new KernelError(`cannot write ${path}: ${message}`, `cat > ${path}`);

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
  else if (group.length === 1) await applyOne(op, hooks, backend, undefined);
  else {
    const mounted = op.kind === 'uts.add' ? await mountedUtsIn(group) : undefined;
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
    left = left.filter(present);
  }
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
async function mountedUtsIn(ops: Op[]): Promise<Set<string>> {
  const dirs = new Set(ops.map((o) => dirname((o as { path: string }).path)));
  return new Set((await Promise.all([...dirs].map((d) => mountedUts(d)))).flat());
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
        throw fileError(op.path, (e as Error).message);
      }
      if (stamp !== undefined) hooks.onFilesWritten?.({ [op.path]: stamp });
      return;
    }
    case 'file.del':
      return removePath(op.path);
    case 'uts.add':
      return backend.setUts(op.path, op.hostname, (mounted ?? (await mountedUtsIn([op]))).has(op.path));
    case 'uts.del':
      return backend.removeUts(op.path);
    case 'firewall.apply':
      return op.want.backend === 'nftables' ? applyNftables(op.want, op.have) : applyIptables(op.want, op.have);
    case 'firewall.remove':
      return op.have.backend === 'nftables' ? applyNftables(undefined, op.have) : applyIptables(undefined, op.have);
    case 'kernel.reap':
      return reap(op.links, backend);
    case 'conntrack.flush':
      return flushConntrack(op.proto, op.port);
    case 'process.stop':
      return stopProcesses(op.pids);
    case 'process.start': {
      const pid = startProcess(op.ns, op.uts, op.log, op.spec, op.specHash);
      hooks.onStarted?.(op.container, pid, op.specHash);
      return;
    }
    default:
      throw new Error(`no executor for ${op.kind}`);
  }
}
