/**
 * A lab's firewall as data: abstract rules in the lab's own chains, the jumps into them from
 * the built-in hooks, and the lab's rules in the two isolation chains all labs share.
 * Renderers (iptables-rules.ts, nft-rules.ts) turn them into text.
 *
 * The rules follow Docker's classic bridge driver with the userland proxy off (netlab has no
 * proxy: every published port is kernel NAT), plus two Docker 28 fixes: a final DROP in the
 * ports chain (no direct routed access to unpublished container ports) and a raw PREROUTING
 * DROP that keeps ports published on 127.0.0.1 away from the LAN.
 */
import { formatCidr } from './ipv4.js';
import type { Lab } from './lab.js';
import type { Proto } from './ports.js';
import { exposeRuns, portRuns, type PortRun } from './port-runs.js';
import { internalRules6, neighbourRules6, postRules6, publishRules6 } from './firewall6.js';

export type ChainRole = 'dnat' | 'post' | 'fwd' | 'ports' | 'raw';
export type TableName = 'raw' | 'nat' | 'filter';
export const CHAIN_TABLE: Record<ChainRole, TableName> = { dnat: 'nat', post: 'nat', fwd: 'filter', ports: 'filter', raw: 'raw' };
/**
 * Chains every lab shares, as Docker's DOCKER-ISOLATION-STAGE-1/2: stage 1 sends traffic that
 * leaves a netlab bridge for another interface to stage 2, which drops it when that interface
 * is a netlab bridge too. Each lab adds only its own rules (commented with its name) and
 * removes only those; the chain goes with the last rule.
 *
 * A packet passes the iptables and the nftables forward hooks both, and is dropped if either
 * drops it; but each backend's stages list only the bridges that were put in them. So the
 * iptables stages list every lab's bridges, an nftables lab's too: a pair of labs with one on
 * the iptables backend is isolated there, a pair of nftables labs in the nftables stages.
 */
export type SharedChain = 'isolation1' | 'isolation2';

/** A match that may be negated (`! -o netlab0`). */
export interface Neg {
  value: string;
  not?: boolean;
}

export interface Rule {
  src?: Neg;
  dst?: Neg;
  in?: Neg;
  out?: Neg;
  proto?: Proto;
  dport?: number;
  /** With dport: the last port of a range `dport-dportEnd`. */
  dportEnd?: number;
  sport?: number;
  sportEnd?: number;
  /** ICMPv6 neighbour solicitation (135) or advertisement (136): an IPv6-only rule. */
  icmp6Type?: 135 | 136;
  srcType?: 'LOCAL';
  dstType?: 'LOCAL';
  ctstate?: ('RELATED' | 'ESTABLISHED' | 'DNAT')[];
  target: { kind: 'ACCEPT' | 'DROP' | 'RETURN' | 'MASQUERADE' } | DnatTarget | { kind: 'JUMP'; chain: ChainRole | SharedChain };
}

/**
 * DNAT to `ip`, keeping the destination port when `port` is absent (a range published onto the
 * same range); to `port`, or for a rule over a port range, to `port-portEnd` shifted port for port.
 */
export interface DnatTarget {
  kind: 'DNAT';
  ip: string;
  port?: number;
  portEnd?: number;
}

/** Where a built-in hook enters a lab chain. */
export interface Hook {
  table: TableName;
  builtin: 'PREROUTING' | 'OUTPUT' | 'POSTROUTING' | 'FORWARD';
  rule: Rule;
}

export interface Ruleset {
  lab: string;
  hooks: Hook[];
  chains: Record<ChainRole, Rule[]>;
  /** The lab's rules in the shared isolation chains (order within them does not matter). */
  shared: { chain: SharedChain; rule: Rule }[];
  /** A network of the lab has IPv6: its rules go to ip6tables too (firewall6.ts). */
  ipv6?: boolean;
}

const is = (value: string): Neg => ({ value });
const not = (value: string): Neg => ({ value, not: true });

/** The rules of a lab; `local` limits published ports to the containers of this host (default: all). */
export function labRuleset(lab: Lab, local: Lab['containers'] = lab.containers): Ruleset {
  const chains: Record<ChainRole, Rule[]> = { dnat: [], post: [], fwd: [], ports: [], raw: [] };
  const shared: Ruleset['shared'] = [];
  const hooks: Hook[] = [
    { table: 'nat', builtin: 'PREROUTING', rule: { dstType: 'LOCAL', target: { kind: 'JUMP', chain: 'dnat' } } },
    { table: 'nat', builtin: 'OUTPUT', rule: { dstType: 'LOCAL', target: { kind: 'JUMP', chain: 'dnat' } } },
    { table: 'nat', builtin: 'POSTROUTING', rule: { target: { kind: 'JUMP', chain: 'post' } } },
    { table: 'filter', builtin: 'FORWARD', rule: { target: { kind: 'JUMP', chain: 'fwd' } } },
  ];

  // Isolation between networks, of this lab and of every other (Docker's DOCKER-ISOLATION
  // stages), checked first so that no lab's ACCEPT can let traffic cross to another's bridge.
  if (lab.networks.length > 0) chains.fwd.push({ target: { kind: 'JUMP', chain: 'isolation1' } });
  for (const net of lab.networks) {
    shared.push({ chain: 'isolation1', rule: { in: is(net.bridge), out: not(net.bridge), target: { kind: 'JUMP', chain: 'isolation2' } } });
    shared.push({ chain: 'isolation2', rule: { out: is(net.bridge), target: { kind: 'DROP' } } });
  }

  for (const net of lab.networks) {
    const br = net.bridge;
    const subnet = formatCidr(net.subnet);
    const v4 = net.ipv4 !== false;
    // Outbound NAT, as Docker's `POSTROUTING -s <subnet> ! -o docker0 -j MASQUERADE`.
    if (v4 && net.ipMasquerade && !net.internal) chains.post.push({ src: is(subnet), out: not(br), target: { kind: 'MASQUERADE' } });
    // The host's own localhost reaching a published port: 127.0.0.1 must not leave as a source.
    chains.post.push({ out: is(br), srcType: 'LOCAL', target: { kind: 'MASQUERADE' } });
    // Hairpin: a container reaching a published port through the host comes back onto the same
    // bridge; answer through the host so the reply is un-NATed (Docker's proxy did this with <= 27).
    if (v4) chains.post.push({ src: is(subnet), out: is(br), ctstate: ['DNAT'], target: { kind: 'MASQUERADE' } });
    chains.post.push(...postRules6(net));

    if (v4 && net.internal) {
      chains.fwd.push({ in: is(br), dst: not(subnet), target: { kind: 'DROP' } });
      chains.fwd.push({ out: is(br), src: not(subnet), target: { kind: 'DROP' } });
    }
    chains.fwd.push(...internalRules6(net));
    chains.fwd.push({ out: is(br), ctstate: ['RELATED', 'ESTABLISHED'], target: { kind: 'ACCEPT' } });
    chains.fwd.push({ out: is(br), target: { kind: 'JUMP', chain: 'ports' } });
    if (!net.internal) chains.fwd.push({ in: is(br), out: not(br), target: { kind: 'ACCEPT' } });
    if (!net.icc) chains.fwd.push(...neighbourRules6(net));
    chains.fwd.push({ in: is(br), out: is(br), target: { kind: net.icc ? 'ACCEPT' : 'DROP' } });
  }

  for (const c of local) for (const run of portRuns(c.ports)) publishRun(chains, run);
  // Docker's link rules: with icc off, these are the only holes between two containers.
  // A link between two hosts crosses both hosts' bridges: both get its rules.
  const byName = new Map(lab.containers.map((c) => [c.name, c]));
  const here = new Set(local.map((c) => c.name));
  const bridges = new Set(lab.networks.map((n) => n.bridge));
  for (const parent of lab.containers) {
    for (const link of parent.links) {
      if (!here.has(parent.name) && !here.has(link.target)) continue;
      const child = byName.get(link.target)!;
      if (!link.ip) continue;
      const childIf = child.interfaces.find((i) => i.ip === link.ip)!;
      const parentIf = parent.interfaces.find((i) => i.network === childIf.network)!;
      if (!bridges.has(childIf.bridge)) continue;
      const pairs: [string, string][] = [[`${parentIf.ip}/32`, `${childIf.ip}/32`]];
      if (parentIf.ip6 && childIf.ip6) pairs.push([`${parentIf.ip6}/128`, `${childIf.ip6}/128`]);
      for (const p of exposeRuns(child.expose)) {
        for (const [a, b] of pairs) chains.ports.push(...linkRules(a, b, childIf.bridge, p));
      }
    }
  }
  // No direct routed access from outside to ports that are not published (Docker <= 27 allowed it).
  for (const net of lab.networks) chains.ports.push({ in: not(net.bridge), out: is(net.bridge), target: { kind: 'DROP' } });

  if (chains.raw.length > 0) hooks.push({ table: 'raw', builtin: 'PREROUTING', rule: { target: { kind: 'JUMP', chain: 'raw' } } });
  const ipv6 = lab.networks.some((n) => n.ipv6);
  return { lab: lab.name, hooks, chains, shared, ...(ipv6 ? { ipv6 } : {}) };
}

/** Docker's two link rules for one exposed run: parent to child's port, and the answers back. */
function linkRules(parent: string, child: string, br: string, p: { proto: Proto; start: number; end: number }): Rule[] {
  const end = p.end === p.start ? undefined : p.end;
  return [
    { src: is(parent), dst: is(child), in: is(br), out: is(br), proto: p.proto, dport: p.start, dportEnd: end, target: { kind: 'ACCEPT' } },
    { src: is(child), dst: is(parent), in: is(br), out: is(br), proto: p.proto, sport: p.start, sportEnd: end, target: { kind: 'ACCEPT' } },
  ];
}

/**
 * One published run: a DNAT from the host ports, an ACCEPT of the container ports, and for a
 * loopback address the raw DROP; one rule each whatever the run's length.
 */
function publishRun(chains: Record<ChainRole, Rule[]>, p: PortRun): void {
  const single = p.host.start === p.host.end;
  const hostEnd = single ? undefined : p.host.end;
  const ctrEnd = single ? undefined : p.container.end;
  // A range onto the same range keeps the port; a shifted one maps port for port from its start.
  const keep = !single && p.host.start === p.container.start;
  const port = keep ? {} : { port: p.container.start, portEnd: ctrEnd };
  // A container with no IPv4 address on the network (`ipv4: false`) has no IPv4 DNAT.
  if (p.containerIp && !p.hostIp.includes(':')) {
    const to: DnatTarget = { kind: 'DNAT', ip: p.containerIp, ...port };
    chains.dnat.push({ dst: p.hostIp === '0.0.0.0' ? undefined : is(`${p.hostIp}/32`), proto: p.proto, dport: p.host.start, dportEnd: hostEnd, target: to });
    chains.ports.push({ dst: is(`${p.containerIp}/32`), in: not(p.bridge), out: is(p.bridge), proto: p.proto, dport: p.container.start, dportEnd: ctrEnd, target: { kind: 'ACCEPT' } });
    // Docker 28: a port published on a loopback address is for this host only. Without this,
    // a LAN neighbour that sends packets for 127.0.0.1 to the host reaches it (moby#45610).
    if (p.hostIp.startsWith('127.')) chains.raw.push({ dst: is(`${p.hostIp}/32`), in: not('lo'), proto: p.proto, dport: p.host.start, dportEnd: hostEnd, target: { kind: 'DROP' } });
  }
  // The same port over IPv6, when the container has IPv6 there (firewall6.ts).
  const v6 = publishRules6(p, port);
  chains.dnat.push(...v6.dnat);
  chains.ports.push(...v6.ports);
  chains.raw.push(...v6.raw);
}
