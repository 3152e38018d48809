/** `up`: make the kernel match the topology, changing only what differs. */
import { fileURLToPath } from 'node:url';
import { ConflictError, InputError } from '../errors.js';
import { loadTopology, type LoadOptions } from '../topology/load.js';
import type { Topology } from '../topology/types.js';
import { allocationOf, resolveLab, SubnetTakenError, type Lab } from '../model/lab.js';
import { PoolExhaustedError } from '../model/ipam.js';
import { desiredState } from '../plan/desired.js';
import { diff } from '../plan/diff.js';
import type { Op } from '../plan/ops.js';
import { observe } from '../kernel/observe.js';
import { applyOps } from '../kernel/apply.js';
import { gatherContext } from './context.js';
import { withHostLock } from './lock.js';
import { readState, writeState, type StateFile } from './state.js';
import { requireRoot } from './root.js';

export interface UpOptions extends LoadOptions {
  /** A topology already loaded (the library API); otherwise it is read from `file`. */
  topology?: Topology;
  /** Plan only: report the Ops and change nothing. */
  dryRun?: boolean;
  /** Called with every Op before any is applied (progress reporting). */
  onPlan?: (ops: Op[], lab: string) => void;
  onStep?: (ops: Op[]) => void;
}

export interface UpResult {
  lab: Lab;
  ops: Op[];
  ms: number;
}

/**
 * How a container command that starts with `netlab` runs this netlab: the same node and the
 * built CLI (`<package>/dist/cli/main.js`, reached the same way from dist/ and from src/).
 */
export const SELF_ARGV = [process.execPath, fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))];

export async function up(opts: UpOptions = {}): Promise<UpResult> {
  const topo = opts.topology ?? loadTopology(opts);
  requireRoot('up');
  return withHostLock('bring the lab up', async () => {
    const started = performance.now();
    const prev = await readState(topo.name);
    const ctx = await gatherContext(topo.name, prev?.allocation);

    const previousPorts = new Set(prev?.resolved.containers.flatMap((c) => c.ports.map((p) => `${p.hostPort}/${p.proto}`)) ?? []);
    const busy = topo.containers.flatMap((c) =>
      c.publish.filter((b) => b.hostPort && ctx.usedHostPorts.has(`${b.hostPort}/${b.proto}`) && !previousPorts.has(`${b.hostPort}/${b.proto}`)).map((b) => `containers.${c.name}.publish: host port ${b.hostPort}/${b.proto} is already in use on this host (a listening socket or another lab)`),
    );
    if (busy.length > 0) throw new ConflictError(busy.join('\n'));

    let lab: Lab;
    try {
      lab = resolveLab(topo, ctx);
    } catch (e) {
      if (e instanceof PoolExhaustedError) throw new InputError([{ path: 'networks', message: e.message }], topo.source);
      if (e instanceof SubnetTakenError) throw new ConflictError(e.message);
      throw e;
    }
    const want = desiredState(lab, { selfArgv: SELF_ARGV });
    const planned = { netns: Object.keys(want.namespaces), links: Object.keys(want.hostLinks) };
    const seen = await observe({ lab: lab.name, want, planned: prev?.planned ?? { netns: [], links: [] }, started: prev?.started ?? {} });
    if (seen.foreign.length > 0) {
      throw new ConflictError(`these objects carry names lab "${lab.name}" needs but were not made by it; netlab leaves them alone:\n  ${seen.foreign.join('\n  ')}`);
    }
    const ops = diff(want, seen.state);
    if (opts.dryRun) return { lab, ops, ms: performance.now() - started };

    const startedProcs = Object.fromEntries(Object.entries(prev?.started ?? {}).filter(([name]) => want.processes[name]));
    const state: StateFile = {
      version: 1,
      lab: lab.name,
      source: topo.source,
      allocation: allocationOf(lab),
      // Until this run completes, both the old and the new names are the lab's.
      planned: { netns: union(planned.netns, prev?.planned.netns), links: union(planned.links, prev?.planned.links) },
      started: startedProcs,
      resolved: lab,
      updatedAt: '',
    };
    // Metadata such as `expose` changes no kernel object but must reach ps and inspect.
    if (ops.length > 0 || !prev || JSON.stringify(prev.resolved) !== JSON.stringify(lab)) await writeState(state);
    if (ops.length > 0) {
      opts.onPlan?.(ops, lab.name);
      await applyOps(ops, { onStep: opts.onStep, onStarted: (c, pid, specHash) => (startedProcs[c] = { pid, specHash }) });
      state.planned = planned;
      await writeState(state);
    }
    return { lab, ops, ms: performance.now() - started };
  });
}

function union(a: string[], b: string[] | undefined): string[] {
  return [...new Set([...a, ...(b ?? [])])];
}
