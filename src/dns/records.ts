/**
 * What the lab's embedded DNS answers, decided from the resolved lab (pure). Records are kept
 * per network, as Docker's resolver keeps them per sandbox endpoint: a container sees the
 * networks it is on, in its interface order, plus its own link aliases.
 */
import type { Lab, LabContainer } from '../model/lab.js';

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
    add(c.name, iface.ip);
    add(c.hostname, iface.ip);
    for (const alias of c.aliases?.[network] ?? []) add(alias, iface.ip);
    // Docker answers a container address with `<container>.<network>`.
    ptr[reverseName(iface.ip)] = `${c.name}.${network}`;
  }
  return { names, ptr };
}

function viewOf(c: LabContainer, dnsNets: Set<string>): DnsView {
  const links: Record<string, string[]> = {};
  for (const l of c.links) if (c.interfaces.some((i) => i.network !== undefined && dnsNets.has(i.network))) links[l.alias.toLowerCase()] = [l.ip];
  return {
    container: c.name,
    ns: c.netns,
    networks: c.interfaces.map((i) => i.network).filter((n) => dnsNets.has(n)),
    links,
    upstreams: c.resolver!.upstreams,
  };
}

/** `172.18.0.2` → `2.0.18.172.in-addr.arpa`. */
export function reverseName(ip: string): string {
  return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
}

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
  type: 'A' | 'PTR';
  data: string[];
  /** `link`, or the network it comes from. */
  from: string;
}

/** Every record a container's view answers, in the order lookup() tries them (a name seen once). */
export function recordsSeen(config: Pick<ResolverConfig, 'networks'>, view: DnsView): SeenRecord[] {
  const out: SeenRecord[] = [];
  const seen = new Set<string>();
  for (const [name, ips] of Object.entries(view.links)) {
    seen.add(name);
    out.push({ name, type: 'A', data: ips, from: 'link' });
  }
  for (const net of view.networks) {
    const records = config.networks[net];
    if (!records) continue;
    for (const [name, ips] of Object.entries(records.names)) {
      if (seen.has(name)) continue;
      seen.add(name);
      out.push({ name, type: 'A', data: ips, from: net });
    }
    for (const [name, target] of Object.entries(records.ptr)) {
      if (seen.has(name)) continue;
      seen.add(name);
      out.push({ name, type: 'PTR', data: [target], from: net });
    }
  }
  return out;
}
