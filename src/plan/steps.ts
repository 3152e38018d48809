/**
 * The step graph: the plan's Ops in the groups apply carries out as one, each with the steps it
 * waits for. Apply starts every step whose steps are done. Steps are listed in plan order, so
 * their Ops one after the other are the plan itself (what `explain` and `--dry-run` print); only
 * the work that may run beside a link step, or beside the kernel's reaping of veths, waits for
 * less than everything before it. How each Op kind groups and what it may run beside is KINDS.
 */
import type { Op, OpKind } from './ops.js';

/** How apply carries out a step's Ops. */
export type StepRun =
  /** One batch for the link executor (`ip -batch` or rtnetlink messages). */
  | 'links'
  /** One ovs-vsctl run. */
  | 'ovs'
  /** Every command gets its SIGTERM at once; one grace period for all. */
  | 'stop'
  /** The kernel removing the veths of deleted namespaces, waited for. */
  | 'reap'
  /** The /etc files (and UTS namespaces) written by a second thread beside a link step. */
  | 'thread'
  /** One Op after the other (the firewall's transactions beside a link step). */
  | 'serial'
  /** Side by side (Ops of one kind on different objects), or the one Op. */
  | 'each';

export interface Step {
  id: number;
  run: StepRun;
  ops: Op[];
  /** The ids of the steps this one waits for (all listed before it). */
  after: number[];
  /** The link step this one runs beside: the progress line of that step tells of both. */
  beside?: number;
}

interface KindRule {
  /** Consecutive Ops of the same group form one step: the link executor's batch, one ovs-vsctl, one stop, or one kind side by side. */
  group?: 'links' | 'ovs' | 'stop' | 'kind';
  /** Passed over by the work beside a link step: it touches no file, UTS namespace or firewall rule of that work. */
  passable?: boolean;
  /** Taken beside a link step: it needs nothing the Ops it passes over make (a file names a folder, a rule a link that need not exist yet). */
  besideLinks?: 'thread' | 'serial';
  /** Runs while the kernel reaps veths: it touches no link. */
  besideReap?: boolean;
}

const LINK: KindRule = { group: 'links', passable: true };

/** Every Op kind, and how it steps: a new kind is added here (its Op in ops.ts, its executor in kernel/apply.ts). */
export const KINDS: Record<OpKind, KindRule> = {
  'netns.add': LINK,
  'netns.del': LINK,
  'netns.sysctl': LINK,
  'bridge.add': LINK,
  'veth.add': LINK,
  'vxlan.add': LINK,
  'fdb.append': LINK,
  'fdb.del': LINK,
  'link.del': LINK,
  'link.set': LINK,
  'addr.add': LINK,
  'addr.del': LINK,
  'route.replace': LINK,
  'route.del': LINK,
  'kernel.reap': {},
  'sysctl.set': { passable: true },
  'file.write': { group: 'kind', passable: true, besideLinks: 'thread' },
  'file.del': { group: 'kind', besideReap: true },
  'uts.add': { group: 'kind', passable: true, besideLinks: 'thread' },
  'uts.del': { group: 'kind', besideReap: true },
  'mnt.add': { group: 'kind' },
  'mnt.del': { group: 'kind' },
  'firewall.apply': { passable: true, besideLinks: 'serial' },
  'firewall.remove': { passable: true, besideLinks: 'serial' },
  'conntrack.flush': {},
  'process.start': { group: 'kind' },
  'process.stop': { group: 'stop' },
  'ovs.bridge.add': { group: 'ovs', passable: true },
  'ovs.bridge.del': { group: 'ovs', passable: true },
  'ovs.port.add': { group: 'ovs', passable: true },
  'ovs.port.del': { group: 'ovs', passable: true },
  'ovs.plug': { group: 'ovs', passable: true },
  'ovs.flows': { group: 'ovs', passable: true },
  'tc.set': {},
};

export interface StepOptions {
  /** The executor makes UTS namespaces in-process: they go to the thread beside the links too. */
  utsBeside?: boolean;
  /** A step ends right after this Op, and nothing runs beside it (fault injection in the crash tests). */
  cutAfter?: number;
}

/** What a step's Ops group by: a folder's removal is its own group, after its files. */
function groupKey(op: Op): string | undefined {
  const g = KINDS[op.kind].group;
  if (g !== 'kind') return g;
  return `${op.kind}${'dir' in op && op.dir ? '/dir' : ''}`;
}

/** A step of the plan still being built: its Ops by their index in the plan. */
interface Draft {
  run: StepRun;
  at: number[];
  after: Draft[];
  beside?: Draft;
}

/** The plan's Ops as steps (listed in plan order; each waits only for steps before it). */
export function planSteps(ops: Op[], opts: StepOptions = {}): Step[] {
  const drafts: Draft[] = [];
  const taken = new Set<number>();
  let last: Draft | undefined;
  let reaping: Draft | undefined;
  let beside: Draft[] | undefined;
  for (let i = 0; i < ops.length; ) {
    if (taken.has(i)) {
      i++;
      continue;
    }
    const rule = KINDS[ops[i]!.kind];
    const after = last ? [last] : [];
    // The first Op the work beside the links may not pass, or that may not run beside a reap, waits for it.
    if (beside && !rule.passable) {
      after.push(...beside);
      beside = undefined;
    }
    if (reaping && !rule.besideReap) {
      after.push(reaping);
      reaping = undefined;
    }
    const j = groupEnd(ops, i, taken, opts.cutAfter);
    const draft: Draft = { run: runOf(ops[i]!), at: range(i, j), after };
    drafts.push(draft);
    if (draft.run === 'reap' && opts.cutAfter !== i) reaping = draft;
    else last = draft;
    const alongside = draft.run === 'links' && !beside ? besideLinks(ops, j, draft, opts) : [];
    if (alongside.length > 0) {
      beside = alongside;
      for (const b of beside) for (const k of b.at) taken.add(k);
      drafts.push(...beside);
    }
    i = j;
  }
  return numbered(drafts, ops);
}

/** Where the group that starts at `i` ends: at an Op of another group, one taken beside, or right after the cut. */
function groupEnd(ops: Op[], i: number, taken: Set<number>, cutAfter: number | undefined): number {
  const key = groupKey(ops[i]!);
  let j = i + 1;
  if (key === undefined) return j;
  while (j < ops.length && !taken.has(j) && groupKey(ops[j]!) === key && (cutAfter === undefined || cutAfter < i || j <= cutAfter)) j++;
  return j;
}

function runOf(op: Op): StepRun {
  if (op.kind === 'kernel.reap') return 'reap';
  const g = KINDS[op.kind].group;
  return g === 'links' || g === 'ovs' || g === 'stop' ? g : 'each';
}

/**
 * The work that goes beside the link step `link` (which ends at `from`): the files, UTS namespaces
 * and firewall Ops after it that pass only passable Ops. None when the cut falls among them: each
 * of those then runs on its own, so that the fault comes right after that very Op.
 */
function besideLinks(ops: Op[], from: number, link: Draft, opts: StepOptions): Draft[] {
  const thread: number[] = [];
  const serial: number[] = [];
  for (let k = from; k < ops.length && KINDS[ops[k]!.kind].passable; k++) {
    const op = ops[k]!;
    const how = KINDS[op.kind].besideLinks;
    if (how === 'serial') serial.push(k);
    else if (how === 'thread' && (op.kind !== 'uts.add' || opts.utsBeside)) thread.push(k);
  }
  if (opts.cutAfter !== undefined && [...thread, ...serial].includes(opts.cutAfter)) return [];
  return [
    { run: 'thread' as const, at: thread, after: link.after, beside: link },
    { run: 'serial' as const, at: serial, after: link.after, beside: link },
  ].filter((d) => d.at.length > 0);
}

/** The drafts in plan order (by their first Op), numbered. */
function numbered(drafts: Draft[], ops: Op[]): Step[] {
  const sorted = [...drafts].sort((a, b) => a.at[0]! - b.at[0]!);
  const id = new Map(sorted.map((d, n) => [d, n]));
  return sorted.map((d, n) => ({
    id: n,
    run: d.run,
    ops: d.at.map((k) => ops[k]!),
    after: [...new Set(d.after.map((a) => id.get(a)!))],
    ...(d.beside ? { beside: id.get(d.beside)! } : {}),
  }));
}

const range = (i: number, j: number) => Array.from({ length: j - i }, (_, k) => i + k);

/** The plan's Ops in step order: what explain and a dry run print, a script that builds the same as apply. */
export const stepOps = (steps: Step[]): Op[] => steps.flatMap((s) => s.ops);
