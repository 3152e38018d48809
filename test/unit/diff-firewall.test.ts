import { describe, expect, it } from 'vitest';
import { sameFirewall } from '../../src/plan/diff-firewall.js';
import type { FirewallState } from '../../src/plan/state.js';

const ipt = (rules: string[]): FirewallState => ({ backend: 'iptables', tables: { nat: { chains: ['NL-l-DNAT', 'NL-l-POST'], jumps: [], rules } } });
const dnat = (port: number) => `-A NL-l-DNAT -p tcp --dport ${port} -j DNAT --to-destination 10.0.0.2:80`;
const post = (n: number) => `-A NL-l-POST -s 10.0.${n}.0/24 -j MASQUERADE`;

describe('sameFirewall', () => {
  it('is the same whatever order the chains come in, as long as each chain keeps its own order', () => {
    const want = ipt([dnat(1), dnat(2), dnat(3), post(1), post(2)]);
    expect(sameFirewall(want, ipt([post(1), dnat(1), post(2), dnat(2), dnat(3)]))).toBe(true);
    expect(sameFirewall(want, ipt([post(1), post(2), dnat(1), dnat(2), dnat(3)]))).toBe(true);
  });

  it("differs when a chain's rules are in another order, one is missing, or one is more", () => {
    const want = ipt([dnat(1), dnat(2), post(1)]);
    expect(sameFirewall(want, ipt([dnat(2), dnat(1), post(1)]))).toBe(false);
    expect(sameFirewall(want, ipt([dnat(1), post(1)]))).toBe(false);
    expect(sameFirewall(want, ipt([dnat(1), dnat(2), post(1), post(2)]))).toBe(false);
  });
});
