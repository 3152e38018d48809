/**
 * A container's `impair:` and its attachments' (`networks: { n: { impair: ... } }`) → the
 * impairment of each of its interfaces, by network. An attachment's own `impair` replaces the
 * container's for that interface, as the most specific setting wins in compose files.
 */
import { ImpairError, isEmpty, parseImpairment, type Impairment, type ImpairInput } from '../model/impair.js';
import type { PathSegment } from './yamlpos.js';

/** An interface's impairment and where it is written (for the messages of `up` on a host without netem). */
export interface ImpairSpec {
  impair: Impairment;
  at: { path: string; line?: number };
}

type Problem = (path: PathSegment[], message: string) => void;
type Where = (path: PathSegment[]) => { path: string; line?: number };

export function impairByNetwork(
  ctrName: string,
  own: ImpairInput | undefined,
  attached: Record<string, { impair?: ImpairInput }> | undefined,
  networks: string[],
  problem: Problem,
  where: Where,
): Record<string, ImpairSpec> {
  const out: Record<string, ImpairSpec> = {};
  const base = ['containers', ctrName];
  const mine = own === undefined ? undefined : checked(own, [...base, 'impair'], problem);
  for (const net of networks) {
    const path = attached?.[net]?.impair !== undefined ? [...base, 'networks', net, 'impair'] : [...base, 'impair'];
    const impair = attached?.[net]?.impair !== undefined ? checked(attached[net]!.impair!, path, problem) : mine;
    if (impair && !isEmpty(impair)) out[net] = { impair, at: where(path) };
  }
  return out;
}

function checked(input: ImpairInput, path: PathSegment[], problem: Problem): Impairment | undefined {
  try {
    return parseImpairment(input);
  } catch (e) {
    if (!(e instanceof ImpairError)) throw e;
    problem([...path, e.key], e.message);
    return undefined;
  }
}
