/**
 * Link impairments, live: `netlab impair NAME [--network N] --delay 20ms --loss 1% --rate 10mbit
 * | --clear | --reset`. A change is applied at once and kept in /run/netlab/<lab>/impair.json, so
 * that the next `up` keeps it and `status` does not call it drift, until `--reset` (back to the
 * topology file's) or `down`. `up` applies the same overrides (withOverrides) and refuses netem
 * where the kernel has none (requireNetem), before any change.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, type InputProblem } from '../errors.js';
import { ImpairError, isEmpty, needsNetem, parseImpairment, type Impairment, type ImpairInput } from '../model/impair.js';
import type { Lab, LabContainer, LabInterface } from '../model/lab.js';
import { impairOp } from '../plan/diff.js';
import type { Op } from '../plan/ops.js';
import { labDir } from '../paths.js';
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

/** `container/network` → the impairment `netlab impair` set (empty: cleared). */
export type Overrides = Record<string, Impairment>;

const overridesFile = (lab: string) => join(labDir(lab), 'impair.json');
const keyOf = (container: string, network: string) => `${container}/${network}`;

export function readOverrides(lab: string): Overrides {
  const file = overridesFile(lab);
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Overrides;
  } catch {
    return {};
  }
}

/** The lab with the impairments `netlab impair` set in place of the file's. */
export function withOverrides(lab: Lab, overrides: Overrides): Lab {
  if (Object.keys(overrides).length === 0) return lab;
  const iface = (c: LabContainer, i: LabInterface): LabInterface => {
    const o = overrides[keyOf(c.name, i.network)];
    if (o === undefined) return i;
    const { impair: _file, impairAt: _at, ...rest } = i;
    return isEmpty(o) ? rest : { ...rest, impair: o, impairAt: { path: 'netlab impair' } };
  };
  return { ...lab, containers: lab.containers.map((c) => ({ ...c, interfaces: c.interfaces.map((i) => iface(c, i)) })) };
}

export const hasImpairment = (lab: Lab) => lab.containers.some((c) => c.interfaces.some((i) => !isEmpty(i.impair)));

/** Refuses delay, jitter and loss on this host's containers where the kernel has no netem; rate alone (tbf) goes. */
export async function requireNetem(lab: Lab, source?: string): Promise<void> {
  const local = lab.containers.filter((c) => lab.hosts.length === 0 || c.host === lab.host);
  const wanting = local.flatMap((c) => c.interfaces.filter((i) => needsNetem(i.impair)));
  if (wanting.length === 0 || (await kernelHasNetem())) return;
  const places = new Map(wanting.map((i) => [`${i.impairAt?.path}:${i.impairAt?.line}`, i.impairAt]));
  const problems: InputProblem[] = [...places.values()].map((at) => ({ path: at?.path ?? 'impair', line: at?.line, message: NO_NETEM }));
  throw new InputError(problems, source);
}

export const NO_NETEM =
  'delay, jitter and loss need the kernel\'s netem (sch_netem), which this kernel does not have (a tc netem qdisc cannot be made here; "netlab doctor" says so too): nothing was changed. rate works without it (tbf)';

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
