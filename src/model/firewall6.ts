/**
 * The IPv6 half of a lab's firewall: the rules that name IPv6 addresses. Rules without an
 * address (jumps, interface matches, icc, isolation) serve both families as they are: the
 * iptables renderer writes them into ip6tables too, nftables' inet table applies them to both.
 *
 * Docker's ip6tables rules mirror its iptables ones; what differs, and why:
 * - a port published on every address (`8080:80`, `[::]:8080:80`) is not DNATed when it is sent
 *   to ::1: Linux has no route_localnet for IPv6, so a packet from ::1 can never leave through a
 *   bridge; netlab's loopback proxy takes [::1] instead (Docker's docker-proxy does the same);
 * - with icc: false, neighbour discovery still passes between the bridge's ports (see neighbourRules6);
 * - a port published on [::1] has no DNAT at all, only the raw DROP of packets for ::1 that come
 *   from another interface (Docker 28), and the proxy.
 */
import type { Neg, Rule } from './firewall.js';
import type { LabNetwork } from './lab.js';
import type { PortRun } from './port-runs.js';

const is = (value: string): Neg => ({ value });
const not = (value: string): Neg => ({ value, not: true });

/** 4 or 6 for a rule that names an address of that family; undefined for one that serves both. */
export function ruleFamily(r: Rule): 4 | 6 | undefined {
  if (r.icmp6Type !== undefined) return 6;
  const addrs = [r.src?.value, r.dst?.value, r.target.kind === 'DNAT' ? r.target.ip : undefined].filter((a): a is string => a !== undefined);
  if (addrs.length === 0) return undefined;
  return addrs.some((a) => a.includes(':')) ? 6 : 4;
}

/** The rule belongs in `family`'s tables (its own, or one that serves both). */
export function inFamily(r: Rule, family: 4 | 6): boolean {
  const f = ruleFamily(r);
  return f === undefined || f === family;
}

/** IPv6 NAT follows `ip6Masquerade` (on by default, as Docker 27's for IPv6 networks). */
export function masquerades6(net: LabNetwork): boolean {
  return net.ip6Masquerade ?? true;
}

/** A network's IPv6 NAT rules: outbound MASQUERADE, and the hairpin one (as firewall.ts's IPv4 ones). */
export function postRules6(net: LabNetwork): Rule[] {
  if (!net.ipv6) return [];
  const subnet = net.ipv6.subnet;
  const out: Rule[] = [];
  if (masquerades6(net) && !net.internal) out.push({ src: is(subnet), out: not(net.bridge), target: { kind: 'MASQUERADE' } });
  out.push({ src: is(subnet), out: is(net.bridge), ctstate: ['DNAT'], target: { kind: 'MASQUERADE' } });
  return out;
}

/** An internal network's IPv6 traffic stays in its subnet, as Docker's internal rules for IPv4. */
export function internalRules6(net: LabNetwork): Rule[] {
  if (!net.ipv6 || !net.internal) return [];
  return [
    { in: is(net.bridge), dst: not(net.ipv6.subnet), target: { kind: 'DROP' } },
    { out: is(net.bridge), src: not(net.ipv6.subnet), target: { kind: 'DROP' } },
  ];
}

/**
 * With icc: false, the neighbour discovery between the containers of an IPv6 network: IPv6
 * finds a neighbour with ICMPv6, which bridged frames carry through ip6tables, where IPv4's ARP
 * never passes iptables. Without these, icc: false would drop the link holes' traffic too.
 */
export function neighbourRules6(net: LabNetwork): Rule[] {
  if (!net.ipv6) return [];
  return ([135, 136] as const).map((icmp6Type) => ({ in: is(net.bridge), out: is(net.bridge), icmp6Type, target: { kind: 'ACCEPT' } }));
}

/** A published run's IPv6 rules: DNAT, ACCEPT, and for [::1] the raw DROP (see the file's head). */
export function publishRules6(p: PortRun, to: { port?: number; portEnd?: number }): { dnat: Rule[]; ports: Rule[]; raw: Rule[] } {
  const none = { dnat: [], ports: [], raw: [] };
  const single = p.host.start === p.host.end;
  const hostEnd = single ? undefined : p.host.end;
  if (p.hostIp === '::1') return { ...none, raw: [{ dst: is('::1/128'), in: not('lo'), proto: p.proto, dport: p.host.start, dportEnd: hostEnd, target: { kind: 'DROP' } }] };
  const everywhere = p.hostIp === '0.0.0.0' || p.hostIp === '::';
  if (!p.containerIp6 || !(everywhere || p.hostIp.includes(':'))) return none;
  const dst = everywhere ? not('::1/128') : is(`${p.hostIp}/128`);
  return {
    dnat: [{ dst, proto: p.proto, dport: p.host.start, dportEnd: hostEnd, target: { kind: 'DNAT', ip: p.containerIp6, ...to } }],
    ports: [
      { dst: is(`${p.containerIp6}/128`), in: not(p.bridge), out: is(p.bridge), proto: p.proto, dport: p.container.start, dportEnd: single ? undefined : p.container.end, target: { kind: 'ACCEPT' } },
    ],
    raw: [],
  };
}
