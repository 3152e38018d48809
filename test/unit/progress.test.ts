/** progress: the lines `up` and `down` print per step, on a terminal and in a pipe (pure). */
import { describe, expect, it } from 'vitest';
import { parseTopology } from '../../src/topology/load.js';
import { resolveLab } from '../../src/model/lab.js';
import { desiredState } from '../../src/plan/desired.js';
import { diff } from '../../src/plan/diff.js';
import { emptyState } from '../../src/plan/state.js';
import { Progress, describeStep } from '../../src/cli/progress.js';
import { emptyHostContext as ctx } from '../helpers/context.js';
import { SELF, demoLab } from '../helpers/labs.js';

describe('progress', () => {
  const lab = demoLab();
  const ops = diff(desiredState(lab, SELF), emptyState('demo'));

  it('describes each step in words', () => {
    const links = ops.filter((o) => /^(netns|bridge|veth|link|addr|route)\./.test(o.kind));
    expect(describeStep(links)).toBe('links: 2 namespaces, 1 bridge, 2 veth pairs, 19 settings');
    // The files written beside the link step are named apart from its settings.
    expect(describeStep([...links, ...ops.filter((o) => o.kind === 'file.write')])).toBe('links: 2 namespaces, 1 bridge, 2 veth pairs, 19 settings; 6 /etc files beside');
    // With the netlink backend the hostnames go beside too, and the firewall does with either.
    const beside = ops.filter((o) => ['file.write', 'uts.add', 'firewall.apply'].includes(o.kind));
    expect(describeStep([...links, ...beside])).toMatch(/^links: 2 namespaces, 1 bridge, 2 veth pairs, 19 settings; 6 \/etc files, 2 hostnames and the firewall \(\d+ rules\) beside$/);
    expect(describeStep([...links, ...ops.filter((o) => o.kind === 'firewall.apply')])).toMatch(/; the firewall \(\d+ rules\) beside$/);
    expect(describeStep([ops.at(-1)!])).toMatch(/^start web: .*serve --port 80$/);
    // A group of one kind run side by side is named for what it is, not as links.
    expect(describeStep(ops.filter((o) => o.kind === 'file.write'))).toBe('write 6 /etc files');
    expect(describeStep(ops.filter((o) => o.kind === 'uts.add'))).toBe('2 hostnames (a UTS namespace each)');
  });

  it('prints one line per step on a terminal and in a pipe; counts containers done', () => {
    for (const isTTY of [true, false]) {
      let text = '';
      const p = new Progress({ write: (t) => (text += t), isTTY });
      p.plan(ops, 'demo');
      p.step(ops.slice(0, 2));
      p.step(ops.slice(2));
      p.finish();
      expect(text.trim().split('\n')).toHaveLength(2);
      expect(text.startsWith('✓ ')).toBe(isTTY);
      expect(p.containersDone()).toBe(2);
    }
  });

  it('draws a bar of containers done for a large lab on a terminal, and tenths in a pipe', () => {
    const containers = Array.from({ length: 30 }, (_, i) => `c${i}: {}`).join('\n  ');
    const big = resolveLab(parseTopology(`name: big\ncontainers:\n  ${containers}\n`, { source: 'big.yaml', defaultName: 'big' }), ctx);
    const bigOps = diff(desiredState(big, SELF), emptyState('big'));
    for (const isTTY of [true, false]) {
      let text = '';
      const p = new Progress({ write: (t) => (text += t), isTTY });
      p.plan(bigOps, 'big');
      for (const op of bigOps) p.step([op]);
      p.finish();
      expect(p.containersDone()).toBe(30);
      if (isTTY) expect(text).toContain('[########################] 30/30 containers');
      else expect(text.trim().split('\n').at(-1)).toBe('containers: 30/30 done');
      if (!isTTY) expect(text.trim().split('\n').length).toBeLessThanOrEqual(10);
    }
  });
});
