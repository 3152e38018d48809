/** The firewall's part of the diff: the lab's rule set made anew when it differs, and the lab's rules in a backend it no longer uses removed. */
import type { Op } from './ops.js';
import type { FirewallState, LabState } from './state.js';

/** `remove` goes first in the plan, `apply` (with the conntrack flushes of new UDP DNATs) after the containers are made. */
export function firewallOps(want: LabState, have: LabState): { remove: Op[]; apply: Op[] } {
  const apply: Op[] = [];
  const haveSame = have.firewall && have.firewall.backend === want.firewall?.backend ? have.firewall : undefined;
  if (want.firewall && !sameFirewall(want.firewall, haveSame)) {
    apply.push({ kind: 'firewall.apply', lab: want.lab, want: want.firewall, have: haveSame });
    const haveRules = new Set(Object.values(haveSame?.tables ?? {}).flatMap((t) => t.rules));
    for (const u of want.firewall.udpDnat ?? []) {
      if (!haveRules.has(u.rule) || !have.namespaces[u.netns])
        apply.push({ kind: 'conntrack.flush', proto: 'udp', port: u.port, ...(u.portEnd ? { portEnd: u.portEnd } : {}), ...(u.family ? { family: u.family } : {}) });
    }
  }
  // The lab's rules in a backend it does not (or no longer) use.
  const remove = [have.otherFirewall, have.firewall]
    .filter((f): f is FirewallState => !!f && f !== haveSame && !emptyFirewall(f))
    .map((f): Op => ({ kind: 'firewall.remove', lab: have.lab, have: f }));
  return { remove, apply };
}

export function sameFirewall(a: FirewallState, b: FirewallState | undefined): boolean {
  if (!b || a.backend !== b.backend) return false;
  const tables = new Set([...Object.keys(a.tables), ...Object.keys(b.tables)]);
  for (const t of tables) {
    const x = a.tables[t] ?? { chains: [], jumps: [], rules: [] };
    const y = b.tables[t] ?? { chains: [], jumps: [], rules: [] };
    if ([...x.chains].sort().join('\n') !== [...y.chains].sort().join('\n')) return false;
    if ([...x.jumps].sort().join('\n') !== [...y.jumps].sort().join('\n')) return false;
    if (byChain(x.rules, a.backend).join('\n') !== byChain(y.rules, a.backend).join('\n')) return false;
    // A shared chain the lab needs must exist (its own rules in it are compared as jumps).
    if ((x.shared ?? []).some((c) => !(y.shared ?? []).includes(c))) return false;
  }
  return true;
}

function emptyFirewall(f: FirewallState): boolean {
  return Object.values(f.tables).every((t) => t.chains.length === 0 && t.jumps.length === 0 && t.rules.length === 0);
}

/**
 * Rules grouped by chain, each chain's in its order, chains by name, as iptables-save may list
 * chains in any order. Grouped once (a sort comparing by each rule's chain, with localeCompare,
 * cost a converged `up` of a few hundred ports tens of ms).
 */
function byChain(rules: string[], backend: FirewallState['backend']): string[] {
  // iptables rules read `-A CHAIN ...`; nftables rules `CHAIN ...`.
  const chainOf = (r: string) => (backend === 'iptables' ? r.split(' ', 2)[1] : r.split(' ', 1)[0]) ?? '';
  const chains = new Map<string, string[]>();
  for (const r of rules) {
    const c = chainOf(r);
    const list = chains.get(c);
    if (list) list.push(r);
    else chains.set(c, [r]);
  }
  return [...chains.keys()].sort().flatMap((c) => chains.get(c)!);
}
