/** Where a problem of the topology is, in the words every message starts with (lab.ts and lab6.ts both place theirs). */
import { formatProblem } from '../errors.js';
import type { Topology } from '../topology/types.js';

/** A subnet given in the topology collides with the host or another lab. */
export class SubnetTakenError extends Error {
  constructor(
    /** The YAML path of the subnet, `networks.NAME.subnet`. */
    readonly path: string,
    /** `file:line: path: reason`. */
    message: string,
  ) {
    super(message);
  }
}

/** Where an entry of the topology is: `file:line: path: ` as every message starts (topo.lines knows the line). */
export function placeIn(topo: Pick<Topology, 'source' | 'lines'>, path: string, message: string): string {
  return formatProblem({ path, message, line: topo.lines?.[path] }, topo.source);
}
