/** `down`: remove every kernel object of the lab, found by its marks even without a state file. */
import { rm } from 'node:fs/promises';
import { loadTopology, type LoadOptions } from '../topology/load.js';
import { diff } from '../plan/diff.js';
import { emptyState } from '../plan/state.js';
import type { Op } from '../plan/ops.js';
import { observe } from '../kernel/observe.js';
import { applyOps } from '../kernel/apply.js';
import { labDir } from '../paths.js';
import { withHostLock } from './lock.js';
import { readState } from './state.js';
import { requireRoot } from './root.js';
import { LAB_NAME } from '../model/names.js';
import { InputError } from '../errors.js';

export interface DownOptions extends LoadOptions {
  /** The lab to remove, instead of the one the topology file names. */
  lab?: string;
  dryRun?: boolean;
  /** Called with every Op before any is applied (progress reporting). */
  onPlan?: (ops: Op[], lab: string) => void;
  onStep?: (ops: Op[]) => void;
}

export interface DownResult {
  lab: string;
  ops: Op[];
  ms: number;
}

export function labNameOf(opts: { lab?: string } & LoadOptions): string {
  if (opts.lab !== undefined) {
    if (!LAB_NAME.test(opts.lab)) throw new InputError([{ path: '--lab', message: `"${opts.lab}" is not a lab name` }]);
    return opts.lab;
  }
  return loadTopology(opts).name;
}

export async function down(opts: DownOptions = {}): Promise<DownResult> {
  const name = labNameOf(opts);
  requireRoot('down');
  return withHostLock('take the lab down', async () => {
    const started = performance.now();
    const prev = await readState(name);
    const want = emptyState(name);
    const seen = await observe({ lab: name, want, planned: prev?.planned ?? { netns: [], links: [] }, started: prev?.started ?? {} });
    const ops = diff(want, seen.state);
    if (opts.dryRun) return { lab: name, ops, ms: performance.now() - started };
    opts.onPlan?.(ops, name);
    await applyOps(ops, { onStep: opts.onStep });
    await rm(labDir(name), { recursive: true, force: true });
    return { lab: name, ops, ms: performance.now() - started };
  });
}
