/**
 * The impairments `netlab impair` set, as `up` applies them: kept in /run/netlab/<lab>/impair.json
 * until `--reset` or `down`, put in place of the file's (withOverrides), and netem refused where
 * the kernel has none (requireNetem), before any change. Apart from the command (impair.ts), so
 * that `up` loads none of what changing a live link takes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, type InputProblem } from '../errors.js';
import { isEmpty, needsNetem, type Impairment } from '../model/impair.js';
import type { Lab, LabContainer, LabInterface } from '../model/lab.js';
import { labDir } from '../paths.js';
import { kernelHasNetem } from '../kernel/tc.js';

/** `container/network` → the impairment `netlab impair` set (empty: cleared). */
export type Overrides = Record<string, Impairment>;

export const overridesFile = (lab: string) => join(labDir(lab), 'impair.json');
export const keyOf = (container: string, network: string) => `${container}/${network}`;

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
