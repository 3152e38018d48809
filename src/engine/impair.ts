/**
 * Link impairments, live: `netlab impair NAME [--network N] --delay 20ms --loss 1% --rate 10mbit
 * | --clear | --reset`. A change is applied at once and kept in /run/netlab/<lab>/impair.json, so
 * that the next `up` keeps it and `status` does not call it drift, until `--reset` (back to the
 * topology file's) or `down`; `up` applies the same overrides (impairoverrides.ts).
 */
import { InputError } from '../errors.js';
import { ImpairError, needsNetem, parseImpairment, type Impairment, type ImpairInput } from '../model/impair.js';
import type { Lab, LabContainer, LabInterface } from '../model/lab.js';
import { impairOp } from '../plan/diff.js';
import type { Op } from '../plan/ops.js';
import { writeOwnAtomic } from '../kernel/ownfs.js';
import { kernelHasNetem, readImpairments } from '../kernel/tc.js';
import { applyOps } from '../kernel/apply.js';
import { selectBackend } from '../kernel/backend.js';
import { loadTopologyCached } from '../topology/cache.js';
import { DEMO_SOURCE } from '../topology/source.js';
import { withHostLock } from './lock.js';
import { requireRoot } from './root.js';
import { requireContainer } from './query.js';
import { writeState } from './state.js';
import { keyOf, NO_NETEM, overridesFile, readOverrides, requireNetem, withOverrides } from './impairoverrides.js';

export { NO_NETEM } from './impairoverrides.js';

export interface ImpairRequest {
  lab: string;
  container: string;
  network?: string;
  /** The new impairment (what is not given is off, as containerlab's `tools netem set` does). */
  set?: ImpairInput;
  clear?: boolean;
  /** Back to the topology file's impairment. */
  reset?: boolean;
}

export interface ImpairResult {
  interfaces: { network: string; ifname: string; impair: Impairment }[];
  ops: Op[];
}

/** Shows (no change asked), or changes, the impairment of a container's interfaces. */
export async function impair(req: ImpairRequest): Promise<ImpairResult> {
  const wanted = req.set ? parsedFlags(req.set) : undefined;
  requireRoot('impair');
  if (needsNetem(wanted) && !(await kernelHasNetem())) throw new InputError([{ path: '--delay/--jitter/--loss', message: NO_NETEM }]);
  return withHostLock('change a link impairment', async () => {
    const { share, container } = await requireContainer(req.lab, req.container);
    const targets = targetInterfaces(container, req.network);
    if (!wanted && !req.clear && !req.reset) return { interfaces: targets.map((i) => ({ network: i.network, ifname: i.ifname, impair: i.impair ?? {} })), ops: [] };
    const file = req.reset ? await fileImpairments(share.source, container.name) : {};
    const overrides = readOverrides(req.lab);
    for (const i of targets) {
      if (req.reset) delete overrides[keyOf(container.name, i.network)];
      else overrides[keyOf(container.name, i.network)] = wanted ?? {};
    }
    const lab = withOverrides(req.reset ? withFile(share.resolved, container.name, file) : share.resolved, overrides);
    await requireNetem({ ...lab, containers: lab.containers.filter((c) => c.name === container.name) });
    const now = (await readImpairments(container.netns)) ?? new Map<string, Impairment>();
    const after = lab.containers.find((c) => c.name === container.name)!;
    const ops = targets.flatMap((t) => impairOp(container.netns, t.ifname, after.interfaces.find((i) => i.network === t.network)!.impair, now.get(t.ifname) ?? {}) ?? []);
    writeOwnAtomic(overridesFile(req.lab), `${JSON.stringify(overrides, null, 2)}\n`, 0o600, 0o700);
    await writeState({ ...share, resolved: lab });
    await applyOps(ops, {}, selectBackend());
    return { interfaces: after.interfaces.filter((i) => targets.some((t) => t.network === i.network)).map((i) => ({ network: i.network, ifname: i.ifname, impair: i.impair ?? {} })), ops };
  });
}

function parsedFlags(set: ImpairInput): Impairment {
  try {
    return parseImpairment(set);
  } catch (e) {
    if (e instanceof ImpairError) throw new InputError([{ path: `--${e.key}`, message: e.message }]);
    throw e;
  }
}

function targetInterfaces(c: LabContainer, network: string | undefined): LabInterface[] {
  if (network === undefined) return c.interfaces;
  const i = c.interfaces.find((x) => x.network === network);
  if (!i) throw new InputError([{ path: '--network', message: `container "${c.name}" is not on network "${network}" (it is on: ${c.interfaces.map((x) => x.network).join(', ')})` }]);
  return [i];
}

/** The file's impairment of each of the container's networks (none for the demo lab). */
async function fileImpairments(source: string, container: string): Promise<Record<string, Impairment>> {
  if (source === DEMO_SOURCE) return {};
  const topo = await loadTopologyCached({ file: source });
  const c = topo.containers.find((x) => x.name === container);
  return Object.fromEntries(Object.entries(c?.impair ?? {}).map(([net, spec]) => [net, spec.impair]));
}

function withFile(lab: Lab, container: string, file: Record<string, Impairment>): Lab {
  const containers = lab.containers.map((c) => {
    if (c.name !== container) return c;
    return { ...c, interfaces: c.interfaces.map(({ impair: _i, impairAt: _a, ...i }) => (file[i.network] ? { ...i, impair: file[i.network] } : i)) };
  });
  return { ...lab, containers };
}
