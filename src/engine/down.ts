/** `down`: remove every kernel object of the lab, found by its marks even without a state file. */
import { readdir, rm } from 'node:fs/promises';
import { loadTopology, type LoadOptions } from '../topology/load.js';
import { diff } from '../plan/diff.js';
import { emptyState } from '../plan/state.js';
import type { Op } from '../plan/ops.js';
import { labsOnHost, observe } from '../kernel/observe.js';
import { applyOps, ApplyInterrupted } from '../kernel/apply.js';
import { hostNetnsId, readSysctl } from '../kernel/host.js';
import { labDir, RUN_DIR } from '../paths.js';
import { withHostLock } from './lock.js';
import { readState } from './state.js';
import { readHostRecord, writeHostRecord } from './hostrecord.js';
import { requireRoot } from './root.js';
import { LAB_NAME } from '../model/names.js';
import { InputError, InterruptedError } from '../errors.js';

export interface DownOptions extends LoadOptions {
  /** The lab to remove, instead of the one the topology file names. */
  lab?: string;
  dryRun?: boolean;
  onStep?: (ops: Op[]) => void;
  /** Aborting it (Ctrl-C) stops the run after the step in hand. */
  signal?: AbortSignal;
}

export interface DownResult {
  lab: string;
  ops: Op[];
  ms: number;
  /** Objects with the lab's names that it did not make: left alone, and named here. */
  foreign: string[];
}

export function labNameOf(opts: { lab?: string } & LoadOptions): string {
  if (opts.lab !== undefined) {
    if (!LAB_NAME.test(opts.lab)) throw new InputError([{ path: '--lab', message: `"${opts.lab}" is not a lab name (1-16 of a-z 0-9 _ -)` }]);
    return opts.lab;
  }
  return loadTopology(opts).name;
}

export async function down(opts: DownOptions = {}): Promise<DownResult> {
  const name = labNameOf(opts);
  requireRoot('down');
  return withHostLock('take the lab down', () => downLocked(name, opts));
}

/**
 * `down --all`: every lab of this host, found by its marks on the links and firewall rules of
 * this network namespace, or by a state file that names this host (a run killed before it made
 * any link). A lab of which only container namespaces are left and whose state file is gone is
 * not found here: `netlab down --lab NAME` finds it by the marks inside its namespaces.
 */
export async function downAll(opts: Omit<DownOptions, 'lab' | 'file'> = {}): Promise<DownResult[]> {
  requireRoot('down');
  return withHostLock('take every lab down', async () => {
    const labs = [...(await allLabs())].sort();
    const results: DownResult[] = [];
    for (const lab of labs) results.push(await downLocked(lab, opts));
    return results;
  });
}

async function allLabs(): Promise<Set<string>> {
  const labs = await labsOnHost();
  const here = await hostNetnsId();
  for (const name of await readdir(RUN_DIR).catch(() => [] as string[])) {
    if (name.startsWith('.') || !LAB_NAME.test(name)) continue;
    if ((await readState(name))?.hostNetns === here) labs.add(name);
  }
  return labs;
}

async function downLocked(name: string, opts: DownOptions): Promise<DownResult> {
  const started = performance.now();
  const prev = await readState(name);
  const want = emptyState(name);
  const seen = await observe({ lab: name, want, planned: prev?.planned ?? { netns: [], links: [] }, started: prev?.started ?? {} });
  const ops = diff(want, seen.state);
  const { ops: restore, last } = await restoreOps(name);
  const all = [...ops, ...restore];
  if (opts.dryRun) return { lab: name, ops: all, ms: performance.now() - started, foreign: seen.foreign };
  try {
    await applyOps(ops, { onStep: opts.onStep, signal: opts.signal });
  } catch (e) {
    if (!(e instanceof ApplyInterrupted)) throw e;
    throw new InterruptedError(`${e.message}: lab ${name} is partly down. Run "netlab down" to finish removing it, or "netlab up" to restore it.`);
  }
  await rm(labDir(name), { recursive: true, force: true });
  if (restore.length > 0) await applyOps(restore, { onStep: opts.onStep });
  if (last) await writeHostRecord({ version: 1, sysctls: {} });
  return { lab: name, ops: all, ms: performance.now() - started, foreign: seen.foreign };
}

/** When no other lab is left on this host: put back the host-wide sysctls the first lab changed. */
async function restoreOps(lab: string): Promise<{ ops: Op[]; last: boolean }> {
  const record = await readHostRecord();
  if (Object.keys(record.sysctls).length === 0) return { ops: [], last: false };
  const others = [...(await labsOnHost())].filter((l) => l !== lab);
  if (others.length > 0) return { ops: [], last: false };
  const ops: Op[] = [];
  for (const [key, value] of Object.entries(record.sysctls)) {
    if ((await readSysctl(key)) !== value) ops.push({ kind: 'sysctl.set', key, value });
  }
  return { ops, last: true };
}
