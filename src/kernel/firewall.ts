/**
 * A lab's firewall in every program that holds part of it: its share of `table inet netlab`
 * through nft, its iptables tables through iptables-restore. A lab on the iptables backend has
 * only the second; an nftables lab has both, its bridges being also listed in the shared
 * iptables isolation chains (model/firewall.ts). Each part is one transaction.
 */
import type { FirewallState } from '../plan/state.js';
import { applyIptables, iptablesRestoreInput } from './iptables.js';
import { applyNftables, nftScript } from './nftables.js';

/** The programs and their input that turn `have` into `want` (one after the other in a script). */
export function firewallInputs(want: FirewallState | undefined, have: FirewallState | undefined): { command: string; input: string }[] {
  return [
    { command: 'nft -f -', input: nftScript(want, have) },
    { command: 'iptables-restore -w --noflush', input: iptablesRestoreInput(want, have) },
    { command: 'ip6tables-restore -w --noflush', input: iptablesRestoreInput(want, have, 6) },
  ].filter((p) => p.input !== '');
}

/** Both parts at once: they touch different tables, and an nftables lab would otherwise wait for two programs in turn. */
export async function applyFirewall(want: FirewallState | undefined, have: FirewallState | undefined): Promise<void> {
  // Both finish before a failure is reported, so that no program still runs when netlab exits.
  const results = await Promise.allSettled([applyNftables(want, have), applyIptables(want, have)]);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}
