/** Consecutive published ports as runs, Docker's `ps` form of them, and nft set elements in a fixed order. */
import { describe, expect, it } from 'vitest';
import { exposeRuns, formatExposeRun, formatRun, portRuns } from '../../src/model/port-runs.js';
import { canonicalSets } from '../../src/model/nft-maps.js';
import type { ResolvedBinding } from '../../src/model/lab.js';

const bind = (hostPort: number, containerPort: number, extra: Partial<ResolvedBinding> = {}): ResolvedBinding => ({
  hostIp: '0.0.0.0',
  hostPort,
  containerPort,
  proto: 'tcp',
  containerIp: '10.0.0.2',
  bridge: 'br0',
  ...extra,
});

describe('port runs', () => {
  it('merges ports that follow one another on both sides, and only those', () => {
    const same = Array.from({ length: 10000 }, (_, i) => bind(10000 + i, 10000 + i));
    expect(portRuns(same).map(formatRun)).toEqual(['0.0.0.0:10000-19999->10000-19999/tcp']);
    expect(portRuns([bind(8000, 80), bind(8001, 81), bind(8002, 82)]).map(formatRun)).toEqual(['0.0.0.0:8000-8002->80-82/tcp']);
    // Host ports in a row but container ports two apart, another protocol, another address: no run.
    expect(portRuns([bind(8000, 80), bind(8001, 82)]).map(formatRun)).toEqual(['0.0.0.0:8000->80/tcp', '0.0.0.0:8001->82/tcp']);
    expect(portRuns([bind(8000, 80), bind(8001, 81, { proto: 'udp' })])).toHaveLength(2);
    expect(portRuns([bind(8000, 80), bind(8001, 81, { hostIp: '127.0.0.1' })])).toHaveLength(2);
  });

  it('merges exposed ports per protocol', () => {
    const expose = [7000, 7001, 7002].map((port) => ({ port, proto: 'tcp' as const }));
    expect(exposeRuns([...expose, { port: 53, proto: 'udp' }]).map(formatExposeRun)).toEqual(['7000-7002/tcp', '53/udp']);
  });

  it("sorts the elements of a listed set, so that nft's own order compares equal", () => {
    expect(canonicalSets('ip daddr . tcp dport { 10.0.0.3 . 80, 10.0.0.2 . 81, 10.0.0.2 . 80 } accept')).toBe('ip daddr . tcp dport { 10.0.0.2 . 80, 10.0.0.2 . 81, 10.0.0.3 . 80 } accept');
    expect(canonicalSets('dnat ip to tcp dport map { 9000 : 10.0.0.2 . 80, 10000 : 10.0.0.2 . 80 }')).toBe('dnat ip to tcp dport map { 9000 : 10.0.0.2 . 80, 10000 : 10.0.0.2 . 80 }');
  });
});
