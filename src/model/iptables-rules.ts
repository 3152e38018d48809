/**
 * Renders a Ruleset as iptables rule text, in exactly the canonical form `iptables-save`
 * prints, so that what netlab wants and what the kernel has compare as plain strings.
 */
import { chain as chainName, mark } from './names.js';
import { CHAIN_TABLE, type ChainRole, type DnatTarget, type Hook, type Neg, type Rule, type Ruleset, type SharedChain, type TableName } from './firewall.js';
import type { FirewallTable } from '../plan/state.js';
import { inFamily } from './firewall6.js';

export type Table = TableName;
export const IPTABLES_TABLES: readonly Table[] = ['raw', 'nat', 'filter'];
export type Family = 4 | 6;
/** The key of a table in FirewallState.tables: `nat` for iptables, `ip6 nat` for ip6tables. */
export function tableKey(table: Table, family: Family): string {
  return family === 6 ? `ip6 ${table}` : table;
}

export interface IptablesRules {
  /**
   * Per table: the lab's chains, its rules in chains it does not own (jumps from built-in
   * chains, rules in the shared isolation chains), the shared chains it needs, and the rules
   * of its own chains.
   */
  tables: Record<string, { chains: string[]; jumps: string[]; rules: string[]; shared: string[] }>;
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
  if (r.icmp6Type !== undefined) parts.push(`-p ipv6-icmp -m icmp6 --icmpv6-type ${r.icmp6Type}`);
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
  const ip = t.ip.includes(':') ? `[${t.ip}]` : t.ip;
  if (t.portEnd === undefined) return `${ip}:${t.port}`;
  return `${ip}:${t.port}-${t.portEnd}/${base}`;
}

function withMask(addr: string): string {
  return addr.includes('/') ? addr : `${addr}/${addr.includes(':') ? 128 : 32}`;
}

/** The lab's iptables tables, and its ip6tables tables (keys `ip6 ...`) when it has IPv6. */
export function renderIptables(rs: Ruleset): IptablesRules {
  const tables = renderFamily(rs, 4);
  if (rs.ipv6) Object.assign(tables, renderFamily(rs, 6));
  return { tables };
}

/** One family's tables: the rules that name no address, and those that name one of its own. */
function renderFamily(rs: Ruleset, family: Family): IptablesRules['tables'] {
  const empty = () => ({ chains: [] as string[], jumps: [] as string[], rules: [] as string[], shared: [] as string[] });
  const tables: Record<Table, ReturnType<typeof empty>> = { raw: empty(), nat: empty(), filter: empty() };
  const mine = (role: ChainRole) => rs.chains[role].filter((r) => inFamily(r, family));
  for (const role of Object.keys(rs.chains) as ChainRole[]) {
    // The raw chain exists only for labs that publish on a loopback address.
    if (role === 'raw' && mine('raw').length === 0) continue;
    const t = tables[CHAIN_TABLE[role]];
    const name = chainOf(rs.lab, role);
    t.chains.push(name);
    for (const r of mine(role)) t.rules.push(`-A ${name} ${ruleText(rs.lab, r)}`);
  }
  for (const h of rs.hooks) if (h.table !== 'raw' || mine('raw').length > 0) tables[h.table].jumps.push(hookText(rs.lab, h));
  const isolation = iptablesIsolation(rs);
  tables.filter.jumps.push(...isolation.jumps);
  tables.filter.shared.push(...isolation.shared!);
  const out: IptablesRules['tables'] = {};
  for (const table of IPTABLES_TABLES) if (table !== 'raw' || tables.raw.chains.length > 0) out[tableKey(table, family)] = tables[table];
  return out;
}

/**
 * The lab's rules in the shared isolation chains of the filter table, and those chains. Every
 * lab has them, whatever its backend: a lab on the iptables backend drops there the traffic
 * between its bridges and those of every other lab, an nftables lab's too (see firewall.ts).
 * They name no address: ip6tables gets the same, for a lab with IPv6.
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
