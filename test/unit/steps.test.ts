/** The step graph (plan/steps.ts) and how apply runs it (kernel/schedule.ts): ordering, dependencies, a failure stopping what depends on it. */
import { describe, expect, it } from 'vitest';
import type { Op } from '../../src/plan/ops.js';
import { planSteps, stepOps, type Step } from '../../src/plan/steps.js';
import { ApplyInterrupted, runSteps } from '../../src/kernel/schedule.js';
import { desiredState } from '../../src/plan/desired.js';
import { diff } from '../../src/plan/diff.js';
import { emptyState } from '../../src/plan/state.js';
import { demoLab, multiShare, SELF, shopLab } from '../helpers/labs.js';

const ns = (n: string): Op => ({ kind: 'netns.add', ns: n });
const file = (path: string): Op => ({ kind: 'file.write', path, content: 'x' });
const uts = (path: string): Op => ({ kind: 'uts.add', path, hostname: 'h' });
const sysctl: Op = { kind: 'sysctl.set', key: 'net.ipv4.ip_forward', value: '1' };
const mnt = (path: string): Op => ({ kind: 'mnt.add', path, ns: 'n', script: [], fstab: '', volumes: [], hash: 'h' });
const start = (c: string): Op => ({ kind: 'process.start', container: c }) as unknown as Op;
const firewall = { kind: 'firewall.apply', lab: 'l', want: { backend: 'iptables', tables: {} } } as unknown as Op;

/** Each step as `run:kinds after [ids]` (and `beside id`), for readable expectations. */
const shape = (steps: Step[]) =>
  steps.map((s) => `${s.id} ${s.run}:${[...new Set(s.ops.map((o) => o.kind))].join(',')}×${s.ops.length} after [${s.after.join(',')}]${s.beside !== undefined ? ` beside ${s.beside}` : ''}`);

describe('the step graph', () => {
  const plan = [ns('a'), ns('b'), sysctl, file('/etc/netns/a/hosts'), file('/etc/netns/b/hosts'), uts('/u/a'), uts('/u/b'), mnt('/m/a'), mnt('/m/b'), firewall, start('a'), start('b')];

  it('groups a link batch, lets files and UTS namespaces go beside it, and holds the next step until they are done', () => {
    expect(shape(planSteps(plan, { utsBeside: true }))).toEqual([
      '0 links:netns.add×2 after []',
      '1 each:sysctl.set×1 after [0]',
      '2 thread:file.write,uts.add×4 after [] beside 0',
      '3 each:mnt.add×2 after [1,2]',
      '4 each:firewall.apply×1 after [3]',
      '5 each:process.start×2 after [4]',
    ]);
  });

  it('keeps UTS namespaces in line where the executor makes them with a command, and the firewall beside links it may pass', () => {
    const noMnt = plan.filter((o) => o.kind !== 'mnt.add');
    expect(shape(planSteps(noMnt, { utsBeside: false }))).toEqual([
      '0 links:netns.add×2 after []',
      '1 each:sysctl.set×1 after [0]',
      '2 thread:file.write×2 after [] beside 0',
      '3 each:uts.add×2 after [1]',
      '4 serial:firewall.apply×1 after [] beside 0',
      '5 each:process.start×2 after [3,2,4]',
    ]);
  });

  it('lets UTS namespaces and files go while the kernel reaps veths, and nothing else', () => {
    const down: Op[] = [
      { kind: 'process.stop', container: 'a', ns: 'a', pids: [1] },
      { kind: 'process.stop', container: 'b', ns: 'b', pids: [2] },
      { kind: 'netns.del', ns: 'a' },
      { kind: 'kernel.reap', links: ['v1'] },
      { kind: 'uts.del', path: '/u/a' },
      { kind: 'file.del', path: '/etc/netns/a/hosts' },
      { kind: 'file.del', path: '/etc/netns/a', dir: true },
      { kind: 'firewall.remove', lab: 'l', have: { backend: 'iptables', tables: {} } },
    ];
    expect(shape(planSteps(down))).toEqual([
      '0 stop:process.stop×2 after []',
      '1 links:netns.del×1 after [0]',
      '2 reap:kernel.reap×1 after [1]',
      '3 each:uts.del×1 after [1]',
      '4 each:file.del×1 after [3]',
      '5 each:file.del×1 after [4]',
      '6 each:firewall.remove×1 after [5,2]',
    ]);
  });

  it('ends a step right after the cut, with nothing beside it (fault injection)', () => {
    const steps = planSteps(plan, { utsBeside: true, cutAfter: 3 });
    expect(shape(steps).slice(0, 5)).toEqual([
      '0 links:netns.add×2 after []',
      '1 each:sysctl.set×1 after [0]',
      '2 each:file.write×1 after [1]',
      '3 each:file.write×1 after [2]',
      '4 each:uts.add×2 after [3]',
    ]);
    expect(shape(planSteps(plan, { cutAfter: 0 }))[0]).toBe('0 links:netns.add×1 after []');
  });

  it('lists steps in plan order: their Ops are the plan, and each waits only for steps before it', () => {
    for (const lab of [demoLab(), shopLab()]) {
      const ops = diff(desiredState(lab, SELF), emptyState(lab.name));
      for (const utsBeside of [true, false]) {
        const steps = planSteps(ops, { utsBeside });
        expect(stepOps(steps)).toEqual(ops);
        for (const s of steps) expect(s.after.every((a) => a < s.id)).toBe(true);
        expect(steps.some((s) => s.beside !== undefined)).toBe(true);
      }
    }
    const { ops } = multiShare('vm1');
    expect(stepOps(planSteps(ops))).toEqual(ops);
  });
});

describe('running the steps', () => {
  const steps = (after: number[][]): Step[] => after.map((a, id) => ({ id, run: 'each', ops: [sysctl], after: a }));
  const tick = () => new Promise((r) => setTimeout(r, 5));

  it('starts a step once the steps it waits for are done, and the steps beside each other together', async () => {
    const log: string[] = [];
    await runSteps(steps([[], [], [0, 1], [2]]), async (s) => {
      log.push(`start ${s.id}`);
      await tick();
      log.push(`end ${s.id}`);
    });
    expect(log).toEqual(['start 0', 'start 1', 'end 0', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
  });

  it('a failed step stops its dependents; the step in hand beside it finishes; the failure is thrown', async () => {
    const ran: number[] = [];
    const run = runSteps(steps([[], [], [0], [1], [2]]), async (s) => {
      if (s.id === 0) throw new Error('no such device');
      await tick();
      ran.push(s.id);
    });
    await expect(run).rejects.toThrow('no such device');
    expect(ran).toEqual([1]);
  });

  it('interrupted: the step in hand finishes, no other starts, and it says how far it got', async () => {
    const abort = new AbortController();
    const ran: number[] = [];
    const run = runSteps(
      steps([[], [0], [1]]),
      async (s) => {
        ran.push(s.id);
        abort.abort();
      },
      abort.signal,
    );
    await expect(run).rejects.toThrow(ApplyInterrupted);
    await expect(run).rejects.toThrow('interrupted after 1 of 3 changes');
    expect(ran).toEqual([0]);
  });
});
