/**
 * Read-only views of a lab that need no root: `explain` and `graph`. The lab is resolved
 * against the host as `up` would (its routes pick the subnet, `ip route` works as a user),
 * keeping the choices of a lab that is already up when its state file can be read.
 */
import { ConflictError, InputError } from '../errors.js';
import { loadTopology, type LoadOptions } from '../topology/load.js';
import { resolveLab, SubnetTakenError, type Lab } from '../model/lab.js';
import { PoolExhaustedError } from '../model/ipam.js';
import { desiredState } from '../plan/desired.js';
import { diff } from '../plan/diff.js';
import { emptyState } from '../plan/state.js';
import { explainSections, type ExplainSection } from '../plan/explain.js';
import { gatherContext } from './context.js';
import { readState } from './state.js';
import { SELF_ARGV } from './up.js';

export interface LabView {
  lab: Lab;
  /** True when the lab is up and this is its state as applied (live addresses and ports). */
  live: boolean;
}

/** `live`: when the lab is up from this same file, show it as applied rather than as the file says. */
export async function viewLab(opts: LoadOptions & { live?: boolean }): Promise<LabView> {
  const topo = loadTopology(opts);
  const prev = await readState(topo.name);
  if (opts.live && prev && prev.source === topo.source) return { lab: prev.resolved, live: true };
  const ctx = await gatherContext(topo.name, prev?.allocation);
  try {
    const lab = resolveLab(topo, ctx);
    return { lab, live: false };
  } catch (e) {
    if (e instanceof PoolExhaustedError) throw new InputError([{ path: 'networks', message: e.message }], topo.source);
    if (e instanceof SubnetTakenError) throw new ConflictError(e.message);
    throw e;
  }
}

/** The commands that build the lab from nothing, grouped and explained. */
export async function explain(opts: LoadOptions): Promise<LabView & { sections: ExplainSection[] }> {
  const view = await viewLab(opts);
  const ops = diff(desiredState(view.lab, { selfArgv: SELF_ARGV }), emptyState(view.lab.name));
  return { ...view, sections: explainSections(view.lab, ops) };
}
