/**
 * What the lab's embedded DNS answers, decided from the resolved lab (pure). Records are kept
 * per network, as Docker's resolver keeps them per sandbox endpoint: a container sees the
 * networks it is on, in its interface order, plus its own link aliases.
 */
import type { Lab, LabContainer } from '../model/lab.js';
import { parseIp6 } from '../model/ipv6.js';

/** Names (lower case, no trailing dot) → addresses, and reverse names → the name a PTR gives. */
export interface NetworkRecords {
  names: Record<string, string[]>;
  ptr: Record<string, string>;
}

/** One container's view: the namespace the resolver listens in, and what it answers there. */
export interface DnsView {
  container: string;
  ns: string;
  /** Its DNS networks, in interface order: a name is answered from the first that has it. */
  networks: string[];
  /** Its link aliases (docker --link on a user-defined network): seen by this container only. */
  links: Record<string, string[]>;
  upstreams: string[];
}

export interface ResolverConfig {
  lab: string;
  networks: Record<string, NetworkRecords>;
  views: DnsView[];
  /** Every name the lab gives on any network: one a container cannot see is NXDOMAIN, never sent upstream. */
  labNames: string[];
}

/** The config of the resolver on `lab.host` (every host's resolver knows the whole lab), or undefined when no container here needs one. */
export function resolverConfig(lab: Lab): ResolverConfig | undefined {
  const multi = lab.hosts.length > 0;
  const local = lab.containers.filter((c) => c.resolver && (!multi || c.host === lab.host));
  if (local.length === 0) return undefined;
  const networks: Record<string, NetworkRecords> = {};
  for (const net of lab.networks.filter((n) => n.dns)) networks[net.name] = networkRecords(lab.containers, net.name);
  const dnsNets = new Set(Object.keys(networks));
  const views = local.map((c) => viewOf(c, dnsNets));
  const labNames = new Set(Object.values(networks).flatMap((n) => [...Object.keys(n.names), ...Object.keys(n.ptr)]));
  for (const v of views) for (const alias of Object.keys(v.links)) labNames.add(alias);
  return { lab: lab.name, networks, views, labNames: [...labNames].sort() };
}

/** Container names, host names and aliases of the members of one network, and a PTR per address. */
export function networkRecords(containers: LabContainer[], network: string): NetworkRecords {
  const names: Record<string, string[]> = {};
  const ptr: Record<string, string> = {};
  // Each name also qualified by the network's (`web.back`), as Docker's resolver takes it, and as the PTR answers.
  const add = (name: string, ip: string) => {
    for (const key of [name.toLowerCase(), `${name}.${network}`.toLowerCase()]) {
      const list = (names[key] ??= []);
      if (!list.includes(ip)) list.push(ip);
    }
  };
  for (const c of containers) {
    const iface = c.interfaces.find((i) => i.network === network);
    if (!iface) continue;
    // Both families under each name: A queries get the IPv4 ones, AAAA the IPv6 ones.
    for (const ip of [iface.ip, iface.ip6 ?? ''].filter(Boolean)) {
      add(c.name, ip);
      add(c.hostname, ip);
      for (const alias of c.aliases?.[network] ?? []) add(alias, ip);
      // Docker answers a container address with `<container>.<network>`.
      ptr[reverseName(ip)] = `${c.name}.${network}`;
    }
  }
  return { names, ptr };
}

function viewOf(c: LabContainer, dnsNets: Set<string>): DnsView {
  const links: Record<string, string[]> = {};
  for (const l of c.links) if (c.interfaces.some((i) => i.network !== undefined && dnsNets.has(i.network))) links[l.alias.toLowerCase()] = [l.ip, l.ip6 ?? ''].filter(Boolean);
  return {
    container: c.name,
    ns: c.netns,
    networks: c.interfaces.map((i) => i.network).filter((n) => dnsNets.has(n)),
    links,
    upstreams: c.resolver!.upstreams,
  };
}

/** `172.18.0.2` → `2.0.18.172.in-addr.arpa`; an IPv6 address → its 32 nibbles under ip6.arpa. */
export function reverseName(ip: string): string {
  if (ip.includes(':')) return `${parseIp6(ip)!.toString(16).padStart(32, '0').split('').reverse().join('.')}.ip6.arpa`;
  return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
}

/** The addresses of the family a query type asks for: A → IPv4, AAAA → IPv6. */
export const ofType = (ips: string[], type: 'A' | 'AAAA') => ips.filter((ip) => ip.includes(':') === (type === 'AAAA'));

export type Answer = { kind: 'a'; ips: string[] } | { kind: 'ptr'; name: string } | { kind: 'nxdomain' } | { kind: 'upstream' };

/** What a container's view answers for a name (lower case, no trailing dot). */
export function lookup(config: Pick<ResolverConfig, 'networks'>, view: DnsView, name: string, labNames: Set<string>): Answer {
  const link = view.links[name];
  if (link) return { kind: 'a', ips: link };
  for (const net of view.networks) {
    const records = config.networks[net];
    const ips = records?.names[name];
    if (ips) return { kind: 'a', ips };
    const target = records?.ptr[name];
    if (target) return { kind: 'ptr', name: target };
  }
  return labNames.has(name) ? { kind: 'nxdomain' } : { kind: 'upstream' };
}

export interface SeenRecord {
  name: string;
  type: 'A' | 'AAAA' | 'PTR';
  data: string[];
  /** `link`, or the network it comes from. */
  from: string;
}

/** Every record a container's view answers, in the order lookup() tries them (a name seen once). */
export function recordsSeen(config: Pick<ResolverConfig, 'networks'>, view: DnsView): SeenRecord[] {
  const out: SeenRecord[] = [];
  const seen = new Set<string>();
  const addresses = (name: string, ips: string[], from: string) => {
    for (const type of ['A', 'AAAA'] as const) if (ofType(ips, type).length > 0) out.push({ name, type, data: ofType(ips, type), from });
  };
  for (const [name, ips] of Object.entries(view.links)) {
    seen.add(name);
    addresses(name, ips, 'link');
  }
  for (const net of view.networks) {
    const records = config.networks[net];
    if (!records) continue;
    for (const [name, ips] of Object.entries(records.names)) {
      if (seen.has(name)) continue;
      seen.add(name);
      addresses(name, ips, net);
    }
    for (const [name, target] of Object.entries(records.ptr)) {
      if (seen.has(name)) continue;
      seen.add(name);
      out.push({ name, type: 'PTR', data: [target], from: net });
    }
  }
  return out;
}
