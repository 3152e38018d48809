/**
 * Renders a Ruleset for nftables: one `table inet netlab` that every lab shares. Each lab owns
 * its chains in it (`NL-<lab>-DNAT`, ..., the same names as with iptables); the base chains that
 * hook into the kernel (`nat-prerouting`, `filter-forward`, ...) and the isolation chains are
 * shared, and a lab adds only its own rules to them, each commented `netlab:<lab>`. One inet
 * table serves IPv4 and IPv6 at once: a rule without an address applies to both, the others
 * name theirs (`ip saddr`, `ip6 saddr`), so one transaction changes both families. The rule
 * text is exactly what `nft list` prints, so desired and observed compare as plain strings.
 */
import { NFT_SHARED_CHAIN, nftRuleText } from './nft-text.js';
import { acceptSets, dnatMaps } from './nft-maps.js';
import { chainOf, iptablesIsolation, tableKey } from './iptables-rules.js';
import type { ChainRole, Hook, Ruleset } from './firewall.js';
import type { FirewallTable } from '../plan/state.js';

export const NFT_FAMILY = 'inet';
export const NFT_TABLE = 'netlab';
/** The key of the table in FirewallState.tables. */
export const NFT_TABLE_KEY = `${NFT_FAMILY} ${NFT_TABLE}`;

/** The shared base chains: name → the definition `add chain` gives it. */
export const NFT_BASE_CHAINS: Record<string, string> = {
  'raw-prerouting': 'type filter hook prerouting priority raw; policy accept;',
  'nat-prerouting': 'type nat hook prerouting priority dstnat; policy accept;',
  'nat-output': 'type nat hook output priority -100; policy accept;',
  'nat-postrouting': 'type nat hook postrouting priority srcnat; policy accept;',
  'filter-forward': 'type filter hook forward priority filter; policy accept;',
};
export { NFT_SHARED_CHAIN, nftRuleText };
/** Every chain of the table that no single lab owns. */
export const NFT_SHARED = [...Object.keys(NFT_BASE_CHAINS), ...Object.values(NFT_SHARED_CHAIN)];

export function nftBaseChain(h: Hook): string {
  return `${h.table}-${h.builtin.toLowerCase()}`;
}

/**
 * The lab's share of the table: its own chains and their rules (`CHAIN text`), its rules in
 * shared chains (`CHAIN text`), and the shared chains it needs. Beside it, under the key
 * `filter`, the lab's bridges in the iptables isolation chains: a packet passes both iptables'
 * and nftables' forward hooks, and a lab on the iptables backend isolates itself there only from
 * the bridges it finds listed.
 */
export function renderNft(rs: Ruleset): Record<string, FirewallTable> {
  const t: FirewallTable = { chains: [], jumps: [], rules: [], shared: [] };
  const need = (c: string) => {
    if (!t.shared!.includes(c)) t.shared!.push(c);
  };
  for (const role of Object.keys(rs.chains) as ChainRole[]) {
    if (role === 'raw' && rs.chains.raw.length === 0) continue;
    const name = chainOf(rs.lab, role);
    t.chains.push(name);
    const texts = role === 'dnat' ? dnatMaps(rs.lab, rs.chains.dnat) : role === 'ports' ? acceptSets(rs.lab, rs.chains.ports) : rs.chains[role].map((r) => nftRuleText(rs.lab, r));
    for (const text of texts) t.rules.push(`${name} ${text}`);
  }
  for (const h of rs.hooks) {
    const base = nftBaseChain(h);
    need(base);
    t.jumps.push(`${base} ${nftRuleText(rs.lab, h.rule)}`);
  }
  for (const s of rs.shared) {
    const name = NFT_SHARED_CHAIN[s.chain];
    need(name);
    t.jumps.push(`${name} ${nftRuleText(rs.lab, s.rule)}`);
  }
  const isolation = iptablesIsolation(rs);
  if (isolation.jumps.length === 0) return { [NFT_TABLE_KEY]: t };
  // ip6tables' isolation chains list the bridges of a lab with IPv6 as well, for the same reason.
  return { [NFT_TABLE_KEY]: t, filter: isolation, ...(rs.ipv6 ? { [tableKey('filter', 6)]: isolation } : {}) };
}
