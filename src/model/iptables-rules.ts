/**
 * Renders a Ruleset as iptables rule text, in exactly the canonical form `iptables-save`
 * prints, so that what netlab wants and what the kernel has compare as plain strings.
 */
import { chain as chainName, mark } from './names.js';
import { CHAIN_TABLE, type ChainRole, type DnatTarget, type Hook, type Neg, type Rule, type Ruleset, type SharedChain, type TableName } from './firewall.js';
import type { FirewallTable } from '../plan/state.js';

export type Table = TableName;
export const IPTABLES_TABLES: readonly Table[] = ['raw', 'nat', 'filter'];

export interface IptablesRules {
  /**
   * Per table: the lab's chains, its rules in chains it does not own (jumps from built-in
   * chains, rules in the shared isolation chains), the shared chains it needs, and the rules
   * of its own chains.
   */
  tables: Record<Table, { chains: string[]; jumps: string[]; rules: string[]; shared: string[] }>;
}

/** The shared isolation chains, in upper case: lab names are lower case, so no lab chain can clash. */
export const SHARED_IPTABLES_CHAIN: Record<SharedChain, string> = { isolation1: 'NL-ISOLATION-1', isolation2: 'NL-ISOLATION-2' };

export function chainOf(lab: string, role: ChainRole | SharedChain): string {
  if (role === 'isolation1' || role === 'isolation2') return SHARED_IPTABLES_CHAIN[role];
  return { dnat: chainName.dnat, post: chainName.postrouting, fwd: chainName.forward, ports: chainName.ports, raw: chainName.raw }[role](lab);
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
      if (r.sport !== undefined) parts.push(`--sport ${r.sport}${r.sportEnd !== undefined ? `:${r.sportEnd}` : ''}`);
      if (r.dport !== undefined) parts.push(`--dport ${r.dport}${r.dportEnd !== undefined ? `:${r.dportEnd}` : ''}`);
    }
  }
  if (r.srcType) parts.push(`-m addrtype --src-type ${r.srcType}`);
  if (r.dstType) parts.push(`-m addrtype --dst-type ${r.dstType}`);
  if (r.ctstate) parts.push(`-m conntrack --ctstate ${r.ctstate.join(',')}`);
  parts.push(`-m comment --comment "${mark.rule(lab)}"`);
  const t = r.target;
  if (t.kind === 'JUMP') parts.push(`-j ${chainOf(lab, t.chain)}`);
  else if (t.kind === 'DNAT') parts.push(`-j DNAT --to-destination ${dnatTo(t, r.dport)}`);
  else parts.push(`-j ${t.kind}`);
  return parts.join(' ');
}

/** `ip`, `ip:port`, or a shifted range in the base-port form: `ip:80-89/20000` maps 20000 to 80. */
function dnatTo(t: DnatTarget, base: number | undefined): string {
  if (t.port === undefined) return t.ip;
  if (t.portEnd === undefined) return `${t.ip}:${t.port}`;
  return `${t.ip}:${t.port}-${t.portEnd}/${base}`;
}

function withMask(addr: string): string {
  return addr.includes('/') ? addr : `${addr}/32`;
}

export function renderIptables(rs: Ruleset): IptablesRules {
  const empty = () => ({ chains: [] as string[], jumps: [] as string[], rules: [] as string[], shared: [] as string[] });
  const tables: IptablesRules['tables'] = { raw: empty(), nat: empty(), filter: empty() };
  for (const role of Object.keys(rs.chains) as ChainRole[]) {
    // The raw chain exists only for labs that publish on a loopback address.
    if (role === 'raw' && rs.chains.raw.length === 0) continue;
    const t = tables[CHAIN_TABLE[role]];
    const name = chainOf(rs.lab, role);
    t.chains.push(name);
    for (const r of rs.chains[role]) t.rules.push(`-A ${name} ${ruleText(rs.lab, r)}`);
  }
  for (const h of rs.hooks) tables[h.table].jumps.push(hookText(rs.lab, h));
  const isolation = iptablesIsolation(rs);
  tables.filter.jumps.push(...isolation.jumps);
  tables.filter.shared.push(...isolation.shared!);
  if (tables.raw.chains.length === 0) delete (tables as Partial<IptablesRules['tables']>).raw;
  return { tables };
}

/**
 * The lab's rules in the shared isolation chains of the filter table, and those chains. Every
 * lab has them, whatever its backend: a lab on the iptables backend drops there the traffic
 * between its bridges and those of every other lab, an nftables lab's too (see firewall.ts).
 */
export function iptablesIsolation(rs: Ruleset): FirewallTable {
  const t: FirewallTable = { chains: [], jumps: [], rules: [], shared: [] };
  for (const s of rs.shared) {
    const name = chainOf(rs.lab, s.chain);
    if (!t.shared!.includes(name)) t.shared!.push(name);
    t.jumps.push(`-A ${name} ${ruleText(rs.lab, s.rule)}`);
  }
  return t;
}

export function hookText(lab: string, h: Hook): string {
  return `-A ${h.builtin} ${ruleText(lab, h.rule)}`;
}
