/**
 * Carries out a list of Ops in order. Consecutive link Ops go to the link executor as one
 * batch; everything else is done one Op at a time. `onOp` reports progress.
 */
import { isLinkOp, type LinkOp, type Op } from '../plan/ops.js';
import { applyWithIproute2 } from './iproute2.js';
import { applyIptables } from './iptables.js';
import { removePath, writeAtomic, writeSysctl } from './host.js';
import { ensureUts, mountedUts, removeUts } from './uts.js';
import { startProcess, stopProcesses } from './processes.js';

export interface ApplyHooks {
  /** Called before each group of Ops runs. */
  onStep?: (ops: Op[]) => void;
  /** Called with each started process's pid. */
  onStarted?: (container: string, pid: number, specHash: string) => void;
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

export type LinkExecutor = (ops: LinkOp[]) => Promise<void>;

export async function applyOps(ops: Op[], hooks: ApplyHooks = {}, linkExecutor: LinkExecutor = applyWithIproute2): Promise<void> {
  const fault = faultIndex(ops);
  for (let i = 0; i < ops.length; ) {
    if (hooks.signal?.aborted) throw new ApplyInterrupted(i, ops.length);
    const op = ops[i]!;
    let j = i + 1;
    if (isLinkOp(op)) {
      // A batch ends at the fault point, so that the fault comes right after that very Op.
      while (j < ops.length && isLinkOp(ops[j]!) && (fault === undefined || fault < i || j <= fault)) j++;
      const group = ops.slice(i, j) as LinkOp[];
      hooks.onStep?.(group);
      await linkExecutor(group);
    } else {
      hooks.onStep?.([op]);
      await applyOne(op, hooks);
    }
    if (fault !== undefined && fault >= i && fault < j) injectFault();
    i = j;
  }
}

async function applyOne(op: Op, hooks: ApplyHooks): Promise<void> {
  switch (op.kind) {
    case 'sysctl.set':
      return writeSysctl(op.key, op.value);
    case 'file.write':
      return writeAtomic(op.path, op.content);
    case 'file.del':
      return removePath(op.path);
    case 'uts.add':
      return ensureUts(op.path, op.hostname, await isMountedUts(op.path));
    case 'uts.del':
      return removeUts(op.path);
    case 'firewall.apply':
      return applyIptables(op.want, op.have);
    case 'firewall.remove':
      return applyIptables(undefined, op.have);
    case 'process.stop':
      return stopProcesses(op.pids);
    case 'process.start': {
      const pid = startProcess(op.ns, op.uts, op.log, op.spec);
      hooks.onStarted?.(op.container, pid, op.specHash);
      return;
    }
    default:
      throw new Error(`no executor for ${op.kind}`);
  }
}

async function isMountedUts(path: string): Promise<boolean> {
  return (await mountedUts(path.slice(0, path.lastIndexOf('/')))).includes(path);
}
