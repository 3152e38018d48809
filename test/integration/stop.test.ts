/** `down` stops the containers' commands together: SIGTERM to all, one wait, SIGKILL to those still running. */
import { afterEach, describe, expect, it } from 'vitest';
import { up, down, parseTopology } from '../../src/index.js';
import type { Op } from '../../src/plan/ops.js';
import { uniqueLab } from '../helpers/kernel.js';

const labs: string[] = [];
afterEach(async () => {
  for (const lab of labs.splice(0)) await down({ lab }).catch(() => undefined);
});

describe('down', () => {
  it('gives every container command its grace period at the same time, not one after the other', async () => {
    const lab = uniqueLab();
    labs.push(lab);
    // Commands that ignore SIGTERM: each takes the whole grace period (3 s) before its SIGKILL.
    const stubborn = `command: [sh, -c, "trap '' TERM; while :; do sleep 0.2; done"]`;
    const body = `networks:\n  n: { subnet: 10.244.61.0/24 }\ncontainers:\n${['a', 'b', 'c', 'd'].map((c) => `  ${c}: { ${stubborn} }\n`).join('')}`;
    await up({ topology: parseTopology(body, { source: 'stop.yaml', defaultName: lab }) });
    const steps: { kinds: string[]; at: number }[] = [];
    const r = await down({ lab, onStep: (ops: Op[]) => steps.push({ kinds: ops.map((o) => o.kind), at: performance.now() }) });
    const end = performance.now();
    expect(r.ops.filter((o) => o.kind === 'process.stop')).toHaveLength(4);
    const i = steps.findIndex((s) => s.kinds.includes('process.stop'));
    expect(
      steps[i]!.kinds.filter((k) => k === 'process.stop'),
      'one step stops them all',
    ).toHaveLength(4);
    const stopMs = (steps[i + 1]?.at ?? end) - steps[i]!.at;
    // One grace period (3 s), where one after the other took four (12 s).
    expect(stopMs).toBeGreaterThanOrEqual(2900);
    expect(stopMs).toBeLessThan(6000);
  });
});
