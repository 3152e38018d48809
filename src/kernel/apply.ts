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
import { log } from '../log.js';

export interface ApplyHooks {
  /** Called before each group of Ops runs. */
  onStep?: (ops: Op[]) => void;
  /** Called with each started process's pid. */
  onStarted?: (container: string, pid: number, specHash: string) => void;
}

export type LinkExecutor = (ops: LinkOp[]) => Promise<void>;

export async function applyOps(ops: Op[], hooks: ApplyHooks = {}, linkExecutor: LinkExecutor = applyWithIproute2): Promise<void> {
  for (let i = 0; i < ops.length; ) {
    const op = ops[i]!;
    if (isLinkOp(op)) {
      let j = i;
      while (j < ops.length && isLinkOp(ops[j]!)) j++;
      const group = ops.slice(i, j) as LinkOp[];
      hooks.onStep?.(group);
      const started = performance.now();
      await linkExecutor(group);
      log().debug({ ops: group.length, kinds: [...new Set(group.map((o) => o.kind))].join(','), ms: elapsed(started) }, 'applied link ops');
      i = j;
      continue;
    }
    hooks.onStep?.([op]);
    const started = performance.now();
    await applyOne(op, hooks);
    log().debug({ op: op.kind, target: targetOf(op), ms: elapsed(started) }, 'applied');
    i++;
  }
}

const elapsed = (since: number) => Math.round((performance.now() - since) * 10) / 10;

/** What an Op works on, for the debug log. */
function targetOf(op: Op): string {
  if ('path' in op) return op.path;
  if ('key' in op) return op.key;
  if ('container' in op) return op.container;
  return 'lab' in op ? op.lab : '';
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
