/**
 * Which file a lab came from. Two files may name the same lab (two folders both called `lab`, a
 * copy with the same `name:`): the state records the file its lab was built from, and a run
 * from another file does not replace or remove that lab unless told to.
 */
import { realpathSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { ConflictError } from '../errors.js';
import { DEMO_SOURCE, resolveTopologyFile, type LoadOptions } from '../topology/source.js';
import { loadTopologyCached } from '../topology/cache.js';
import type { Topology } from '../topology/types.js';
import { ABSENT, ifErrno } from '../kernel/errno.js';

/** A topology's file as its absolute real path (links resolved), or `<demo>` for the built-in demo lab. */
export function labSource(opts: LoadOptions & { topology?: Topology }, topo: Topology): string {
  if (topo.source === DEMO_SOURCE) return DEMO_SOURCE;
  // A topology handed to the library is known by the source it carries.
  const path = opts.topology ? resolve(opts.cwd ?? process.cwd(), topo.source) : resolveTopologyFile(opts).path;
  try {
    return realpathSync(path);
  } catch (e) {
    // A file gone since its lab was built: the lab is still known by the path as given.
    return ifErrno(e, ABSENT, path);
  }
}

/** Whether `source` is the file a lab's state records. A state that kept the path as given (relative) cannot tell, and does not stop anything. */
export function sameSource(recorded: string, source: string): boolean {
  if (recorded !== DEMO_SOURCE && !isAbsolute(recorded)) return true;
  return recorded === source;
}

const shown = (source: string) => (source === DEMO_SOURCE ? 'the built-in demo lab' : source);

/** Why a run from `source` leaves alone the lab of that name built from `recorded`; the same words for up, down and status. */
export function otherSourceMessage(lab: string, recorded: string, source: string, verb: 'up' | 'down'): string {
  const ways =
    verb === 'up'
      ? `give this one another name ("name:" in the file, or -l/--lab NAME), take the running one down first ("netlab down -l ${lab}"), or replace it with --force`
      : `to take it down anyway: "netlab down -l ${lab}" (or --force)`;
  return `lab "${lab}" is up from ${shown(recorded)}, not from ${shown(source)}: netlab leaves it alone. ${ways[0]!.toUpperCase()}${ways.slice(1)}`;
}

/** Stops a run whose file is not the one the running lab was built from. */
export function requireSameSource(lab: string, recorded: string | undefined, source: string, verb: 'up' | 'down'): void {
  if (recorded !== undefined && !sameSource(recorded, source)) throw new ConflictError(otherSourceMessage(lab, recorded, source, verb));
}

/** The file a command names its lab by, as labSource gives it; undefined when the lab is named with --lab. */
export async function namingSource(opts: LoadOptions & { lab?: string }): Promise<string | undefined> {
  if (opts.lab !== undefined) return undefined;
  return labSource(opts, await loadTopologyCached(opts));
}
