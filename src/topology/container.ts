/** One entry of `containers:` → ContainerDef: its networks, static addresses, ports and links, each checked. */
import { parseIp } from '../model/ipv4.js';
import { OBJECT_NAME } from '../model/names.js';
import { eachPort, hostPortsOf, parseExpose, parsePublish, portKey, PortSpecError, type PortBinding, type PortProto } from '../model/ports.js';
import { parseLink, type LinkSpec } from '../model/links.js';
import { broadcast, contains, type Cidr } from '../model/ipv4.js';
import { quoteValue } from './quote.js';
import type { RawContainer, RawTopology } from './schema.js';
import { formatPath, type PathSegment } from './yamlpos.js';
import { parseRuntime } from './runtime.js';
import { staticAddresses6 } from './container6.js';
import { impairByNetwork } from './impair.js';
import type { ContainerDef, HostDef, NetworkDef } from './types.js';
import { didYouMean } from './suggest.js';

export interface LinkCheck {
  ctr: string;
  link: LinkSpec;
  path: PathSegment[];
}

export interface ContainerScope {
  raw: RawTopology;
  hosts: HostDef[];
  networks: NetworkDef[];
  netByName: Map<string, NetworkDef>;
  /** Across containers: static addresses (`net/ip` → container) and host ports (`host|port/proto` → who publishes it). */
  shared: { staticOwner: Map<string, string>; hostPorts: Map<string, { hostIp: string; ctr: string; path: PathSegment[] }> };
  /** Links to check once every container is known. */
  linkChecks: LinkCheck[];
  problem: (path: PathSegment[], message: string) => void;
  /** `file:line` of an entry. */
  place: (path: PathSegment[]) => string;
  /** The line of an entry, for the mounts' own problems. */
  lineOf: (path: PathSegment[]) => number | undefined;
  /** The topology file's folder: relative volume paths start there. */
  dir: string;
}

export function containerDef(ctrName: string, c: RawContainer, scope: ContainerScope): ContainerDef {
  const at = (...p: PathSegment[]) => ['containers', ctrName, ...p];
  const host = hostOf(c, at, scope);
  // `networks:` is a list, or a map of network → its settings (aliases), like compose's.
  const attached = c.networks === undefined || Array.isArray(c.networks) ? undefined : c.networks;
  const nets = joinedNetworks(c, attached, at, scope);
  const aliases = networkAliases(ctrName, attached, scope);
  (c.dns ?? []).forEach((server, i) => {
    if (parseIp(server) === undefined) scope.problem(at('dns', i), `${quoteValue(server)} is not an IPv4 address`);
  });
  const staticIps = staticAddresses(ctrName, c, nets, scope);
  const staticIp6s = staticAddresses6(ctrName, c, nets, scope);
  const expose = exposedPorts(c, at, scope);
  const { publish, publishEntries } = publishBindings(ctrName, c, host, scope);
  // Docker's CLI adds published ports to the exposed ones.
  const exposed = new Map(expose.map((p) => [portKey(p), p]));
  for (const b of publish.flatMap(eachPort)) exposed.set(`${b.containerPort}/${b.proto}`, { port: b.containerPort, proto: b.proto });
  const links = linkSpecs(ctrName, c, at, scope);
  const where = (p: PathSegment[]) => ({ path: formatPath(p), line: scope.lineOf(p) });
  const impair = impairByNetwork(ctrName, c.impair, attached, nets, scope.problem, where);
  const sameEntries = publishEntries.every((e, i) => e === i) && publishEntries.length === c.publish.length;
  return {
    name: ctrName,
    host,
    hostname: c.hostname ?? ctrName,
    networks: nets,
    staticIps,
    ...(Object.keys(staticIp6s).length ? { staticIp6s } : {}),
    expose: [...exposed.values()],
    publish,
    ...(sameEntries ? {} : { publishEntries }),
    publishAll: c.publishAll,
    links,
    env: c.env,
    command: c.command,
    runtime: parseRuntime(c, at, scope.problem, where, scope.dir),
    aliases,
    ...(c.dns ? { dns: c.dns } : {}),
    ...(c.dnsSearch ? { dnsSearch: c.dnsSearch } : {}),
    ...(c.dnsOptions ? { dnsOptions: c.dnsOptions } : {}),
    ...(Object.keys(impair).length > 0 ? { impair } : {}),
  };
}

type At = (...p: PathSegment[]) => PathSegment[];

/** The host a container runs on: its `host:` (which must be one of `hosts:`), else the lab's first host. */
function hostOf(c: RawContainer, at: At, { raw, hosts, problem }: ContainerScope): string | undefined {
  const host = c.host;
  if (host !== undefined && !raw.hosts?.[host])
    problem(at('host'), `unknown host "${host}"${raw.hosts ? `${didYouMean(host, Object.keys(raw.hosts))} (hosts: ${Object.keys(raw.hosts).join(', ')})` : ': the lab has no "hosts:"'}`);
  if (host === undefined && hosts.length > 0) return hosts[0]!.name;
  return host;
}

/** The networks a container joins, each known and listed once; without `networks:`, the lab's only one. */
function joinedNetworks(c: RawContainer, attached: Record<string, unknown> | undefined, at: At, { networks, netByName, problem }: ContainerScope): string[] {
  let nets = attached ? Object.keys(attached) : (c.networks as string[] | undefined);
  const netPath = (i: number) => (attached ? at('networks', nets![i]!) : at('networks', i));
  if (!nets) {
    if (networks.length === 1) nets = [networks[0]!.name];
    else {
      // With no network at all, "networks:" itself is the problem (reported there).
      if (networks.length > 1) problem(at(), 'say which networks it joins ("networks:"): the lab has more than one');
      nets = [];
    }
  }
  const listed = new Set<string>();
  nets.forEach((n, i) => {
    if (!netByName.has(n)) problem(netPath(i), `unknown network "${n}"${didYouMean(n, netByName.keys())}`);
    if (listed.has(n)) problem(netPath(i), `network "${n}" is listed twice`);
    listed.add(n);
  });
  if (attached && nets.length === 0) problem(at('networks'), 'must name at least one network');
  return nets;
}

/** The container's `expose:` entries as ports, each bad one reported at its place. */
function exposedPorts(c: RawContainer, at: At, { problem }: ContainerScope): PortProto[] {
  const expose: PortProto[] = [];
  c.expose.forEach((spec, i) => {
    try {
      for (const p of parseExpose(spec)) expose.push(p);
    } catch (e) {
      if (!(e instanceof PortSpecError)) throw e;
      problem(at('expose', i), e.message);
    }
  });
  return expose;
}

/** The container's `links:`, each with a valid alias; their targets are checked once every container is known. */
function linkSpecs(ctrName: string, c: RawContainer, at: At, scope: ContainerScope): LinkSpec[] {
  const links: LinkSpec[] = [];
  c.links.forEach((spec, i) => {
    try {
      const l = parseLink(spec);
      if (!OBJECT_NAME.test(l.alias)) scope.problem(at('links', i), `alias ${quoteValue(l.alias)} is not a valid name`);
      else {
        links.push(l);
        scope.linkChecks.push({ ctr: ctrName, link: l, path: at('links', i) });
      }
    } catch (e) {
      scope.problem(at('links', i), (e as Error).message);
    }
  });
  return links;
}

/** Network-scoped aliases (docker --network-alias): only on networks with the embedded DNS. */
function networkAliases(ctrName: string, attached: Record<string, { aliases: string[] }> | undefined, { netByName, problem }: ContainerScope): Record<string, string[]> {
  const aliases: Record<string, string[]> = {};
  for (const [netName, a] of Object.entries(attached ?? {})) {
    if (a.aliases.length === 0) continue;
    // Docker: "network-scoped alias is supported only for containers in user defined networks".
    if (netByName.get(netName)?.dns === false)
      problem(['containers', ctrName, 'networks', netName, 'aliases'], `network "${netName}" has no embedded DNS (the default bridge, or "dns: false"): aliases need a user-defined network`);
    aliases[netName] = a.aliases;
  }
  return aliases;
}

function staticAddresses(ctrName: string, c: RawContainer, nets: string[], { netByName, hosts, shared, problem }: ContainerScope): Record<string, number> {
  const at = (...p: PathSegment[]) => ['containers', ctrName, ...p];
  const staticIps: Record<string, number> = {};
  const ipEntries: [string, string, PathSegment[]][] =
    c.ip === undefined ? [] : typeof c.ip === 'string' ? [[nets[0] ?? '', c.ip, at('ip')]] : Object.entries(c.ip).map(([k, v]) => [k, v, at('ip', k)]);
  for (const [netName, ipText, path] of ipEntries) {
    const net = netByName.get(netName);
    const ip = parseIp(ipText);
    const owner = shared.staticOwner.get(`${netName}/${ip}`);
    if (!nets.includes(netName) || !net) problem(path, `the container is not on network "${netName}"${didYouMean(netName, nets)}`);
    else if (ip === undefined) problem(path, `${quoteValue(ipText)} is not an IPv4 address`);
    else if (net.ipv4 === false) problem(path, `network "${netName}" has "ipv4: false": give an IPv6 address in "ip6"`);
    else if (!net.subnet) problem(path, `a static address needs network "${netName}" to have a subnet`);
    else if (!usableIn(net.subnet, ip)) problem(path, `${ipText} is not a usable address of ${netName}'s subnet`);
    else if (hosts.length === 0 ? ip === (net.gateway ?? net.subnet.network + 1) : ip > net.subnet.network && ip <= net.subnet.network + hosts.length)
      problem(path, `${ipText} is ${hosts.length ? "a host's gateway" : 'the gateway'} of ${netName}`);
    else if (owner) problem(path, `${ipText} is already given to container "${owner}"`);
    else {
      shared.staticOwner.set(`${netName}/${ip}`, ctrName);
      staticIps[netName] = ip;
    }
  }
  return staticIps;
}

/** The bindings of the `publish:` entries, with the entry each comes from; a host port published twice is refused. */
function publishBindings(ctrName: string, c: RawContainer, host: string | undefined, { shared, problem, place }: ContainerScope): { publish: PortBinding[]; publishEntries: number[] } {
  const publish: PortBinding[] = [];
  const publishEntries: number[] = [];
  c.publish.forEach((spec, i) => {
    const at = ['containers', ctrName, 'publish', i];
    try {
      for (const b of parsePublish(spec)) {
        publish.push(b);
        publishEntries.push(i);
        // Ports clash only on the same host; a range's first clash is the one reported.
        for (const port of hostPortsOf(b)) {
          const slot = `${host ?? ''}|${port}/${b.proto}`;
          const clash = shared.hostPorts.get(slot);
          if (clash && hostIpsOverlap(clash.hostIp, b.hostIp)) {
            problem(at, `host port ${port}/${b.proto} is already published by ${clash.ctr} (${place(clash.path)})`);
            break;
          }
          shared.hostPorts.set(slot, { hostIp: b.hostIp, ctr: ctrName, path: at });
        }
      }
    } catch (e) {
      if (!(e instanceof PortSpecError)) throw e;
      problem(at, e.message);
    }
  });
  return { publish, publishEntries };
}

/** Whether two host addresses hold the same port: 0.0.0.0 is every address of both families (Docker binds 0.0.0.0 and ::), :: every IPv6 one. */
function hostIpsOverlap(a: string, b: string): boolean {
  const every6 = (x: string, y: string) => x === '::' && y.includes(':');
  return a === '0.0.0.0' || b === '0.0.0.0' || a === b || every6(a, b) || every6(b, a);
}

export function usableIn(subnet: Cidr, ip: number): boolean {
  return contains(subnet, ip) && ip !== subnet.network && ip !== broadcast(subnet);
}
