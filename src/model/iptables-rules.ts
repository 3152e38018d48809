/**
 * Renders a Ruleset as iptables rule text, in exactly the canonical form `iptables-save`
 * prints, so that what netlab wants and what the kernel has compare as plain strings.
 */
import { chain as chainName, mark } from './names.js';
import { CHAIN_TABLE, type ChainRole, type Hook, type Neg, type Rule, type Ruleset } from './firewall.js';

export type Table = 'nat' | 'filter';

export interface IptablesRules {
  /** Per table: the lab's chains, the jump rules in built-in chains, and the chains' rules. */
  tables: Record<Table, { chains: string[]; jumps: string[]; rules: string[] }>;
}

export function chainOf(lab: string, role: ChainRole): string {
  return { dnat: chainName.dnat, post: chainName.postrouting, fwd: chainName.forward, ports: chainName.ports }[role](lab);
}

const neg = (flag: string, n: Neg | undefined) => (n ? [`${n.not ? '! ' : ''}${flag} ${n.value}`] : []);

/** One rule as `iptables-save` prints it, without the leading `-A CHAIN`. */
export function ruleText(lab: string, r: Rule): string {
  const parts: string[] = [
    ...neg('-s', r.src && { ...r.src, value: withMask(r.src.value) }),
    ...neg('-d', r.dst && { ...r.dst, value: withMask(r.dst.value) }),
    ...neg('-i', r.in),
    ...neg('-o', r.out),
  ];
  if (r.proto) {
    parts.push(`-p ${r.proto}`);
    if (r.dport !== undefined || r.sport !== undefined) {
      parts.push(`-m ${r.proto}`);
      if (r.sport !== undefined) parts.push(`--sport ${r.sport}`);
      if (r.dport !== undefined) parts.push(`--dport ${r.dport}`);
    }
  }
  if (r.srcType) parts.push(`-m addrtype --src-type ${r.srcType}`);
  if (r.dstType) parts.push(`-m addrtype --dst-type ${r.dstType}`);
  if (r.ctstate) parts.push(`-m conntrack --ctstate ${r.ctstate.join(',')}`);
  parts.push(`-m comment --comment "${mark.rule(lab)}"`);
  const t = r.target;
  if (t.kind === 'JUMP') parts.push(`-j ${chainOf(lab, t.chain)}`);
  else if (t.kind === 'DNAT') parts.push(`-j DNAT --to-destination ${t.to}`);
  else parts.push(`-j ${t.kind}`);
  return parts.join(' ');
}

function withMask(addr: string): string {
  return addr.includes('/') ? addr : `${addr}/32`;
}

export function renderIptables(rs: Ruleset): IptablesRules {
  const tables: IptablesRules['tables'] = { nat: { chains: [], jumps: [], rules: [] }, filter: { chains: [], jumps: [], rules: [] } };
  for (const role of Object.keys(rs.chains) as ChainRole[]) {
    const t = tables[CHAIN_TABLE[role]];
    const name = chainOf(rs.lab, role);
    t.chains.push(name);
    for (const r of rs.chains[role]) t.rules.push(`-A ${name} ${ruleText(rs.lab, r)}`);
  }
  for (const h of rs.hooks) tables[h.table].jumps.push(hookText(rs.lab, h));
  return { tables };
}

export function hookText(lab: string, h: Hook): string {
  return `-A ${h.builtin} ${ruleText(lab, h.rule)}`;
}
