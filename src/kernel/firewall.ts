/**
 * A lab's firewall in every program that holds part of it: its share of `table inet netlab`
 * through nft, its iptables tables through iptables-restore. A lab on the iptables backend has
 * only the second; an nftables lab has both, its bridges being also listed in the shared
 * iptables isolation chains (model/firewall.ts). Each part is one transaction.
 */
import type { FirewallState } from '../plan/state.js';
import { applyIptables, iptablesRestoreInput } from './iptables.js';
import { applyNftables, nftScript } from './nftables.js';

/** The programs and their input that turn `have` into `want`, in the order `applyFirewall` runs them. */
export function firewallInputs(want: FirewallState | undefined, have: FirewallState | undefined): { command: string; input: string }[] {
  return [
    { command: 'nft -f -', input: nftScript(want, have) },
    { command: 'iptables-restore -w --noflush', input: iptablesRestoreInput(want, have) },
  ].filter((p) => p.input !== '');
}

export async function applyFirewall(want: FirewallState | undefined, have: FirewallState | undefined): Promise<void> {
  await applyNftables(want, have);
  await applyIptables(want, have);
}
