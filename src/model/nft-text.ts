/** One rule's text exactly as `nft list` prints it: what nft-rules and nft-maps both compose. */
import { mark } from './names.js';
import { chainOf } from './iptables-rules.js';
import type { ChainRole, Neg, Rule, SharedChain } from './firewall.js';

export const NFT_SHARED_CHAIN: Record<SharedChain, string> = { isolation1: 'isolation-1', isolation2: 'isolation-2' };

function nftChainOf(lab: string, target: ChainRole | SharedChain): string {
  return target === 'isolation1' || target === 'isolation2' ? NFT_SHARED_CHAIN[target] : chainOf(lab, target);
}

const addr = (a: string) => a.replace(/\/(32|128)$/, '');
/** nft's name of the address family of `a`: `ip` or `ip6`. */
export const ipOf = (a: string) => (a.includes(':') ? 'ip6' : 'ip');
const cmp = (n: Neg, value: string) => `${n.not ? '!= ' : ''}${value}`;

const span = (a: number, b: number | undefined) => (b === undefined ? String(a) : `${a}-${b}`);

/** One rule as `nft list` prints it. */
export function nftRuleText(lab: string, r: Rule): string {
  const parts: string[] = [];
  if (r.in) parts.push(`iifname ${cmp(r.in, `"${r.in.value}"`)}`);
  if (r.out) parts.push(`oifname ${cmp(r.out, `"${r.out.value}"`)}`);
  if (r.src) parts.push(`${ipOf(r.src.value)} saddr ${cmp(r.src, addr(r.src.value))}`);
  if (r.dst) parts.push(`${ipOf(r.dst.value)} daddr ${cmp(r.dst, addr(r.dst.value))}`);
  if (r.icmp6Type !== undefined) parts.push(`icmpv6 type ${r.icmp6Type === 135 ? 'nd-neighbor-solicit' : 'nd-neighbor-advert'}`);
  if (r.srcType) parts.push(`fib saddr type local`);
  if (r.dstType) parts.push(`fib daddr type local`);
  if (r.proto) {
    if (r.sport !== undefined) parts.push(`${r.proto} sport ${span(r.sport, r.sportEnd)}`);
    if (r.dport !== undefined) parts.push(`${r.proto} dport ${span(r.dport, r.dportEnd)}`);
    if (r.sport === undefined && r.dport === undefined) parts.push(`meta l4proto ${r.proto}`);
  }
  if (r.ctstate) {
    const states = r.ctstate.filter((s) => s !== 'DNAT').map((s) => s.toLowerCase());
    // nft lists states in its own order: established before related.
    if (states.length) parts.push(`ct state ${states.sort().join(',')}`);
    if (r.ctstate.includes('DNAT')) parts.push('ct status dnat');
  }
  const t = r.target;
  if (t.kind === 'JUMP') parts.push(`jump ${nftChainOf(lab, t.chain)}`);
  else if (t.kind === 'DNAT') parts.push(`dnat ${ipOf(t.ip)} to ${t.port === undefined ? t.ip : `${ipOf(t.ip) === 'ip6' ? `[${t.ip}]` : t.ip}:${span(t.port, t.portEnd)}`}`);
  else parts.push(t.kind.toLowerCase());
  parts.push(`comment "${mark.rule(lab)}"`);
  return parts.join(' ');
}
