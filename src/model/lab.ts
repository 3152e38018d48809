/**
 * Topology + what the host already has → Lab: every address, name, MAC, port and file
 * decided. Pure: the engine gathers the context, this decides.
 */
import type { ContainerRuntime } from '../topology/runtime.js';
import type { ContainerDef, NetworkDef, Topology } from '../topology/types.js';
import { formatCidr, formatIp, overlaps, parseCidr, parseIp, type Cidr } from './ipv4.js';
import { allocateAddresses, HostPortPicker, pickSubnet } from './ipam.js';
import { containerIfName, macFromIp, netnsName, vethHostNames } from './names.js';
import { linkEnv } from './links.js';
import { internalResolvConf, resolvConf, upstreamServers, type DnsOverrides, type TextPiece } from './etcfiles.js';
import { forwardedBy, hostPortsOf, type PortBinding, type PortProto } from './ports.js';
import { InputError } from '../errors.js';
import { fillHostsFiles } from './hostsfile.js';

export { fillHostsFiles } from './hostsfile.js';
import { allocate6, allocation6, NO_IPV4, resolveNetworks6, type TakenSubnet6 } from './lab6.js';
import { parseIp6 } from './ipv6.js';
import type { Impairment } from './impair.js';

import { placeIn, SubnetTakenError } from './place.js';

export { placeIn, SubnetTakenError };

/** The YAML path of the `publish:` entry binding `i` of `c` comes from (past them, `publishAll`). */
export function publishPath(c: Pick<ContainerDef, 'name' | 'publish' | 'publishEntries'>, i: number): string {
  if (i >= c.publish.length) return `containers.${c.name}.publishAll`;
  return `containers.${c.name}.publish[${c.publishEntries?.[i] ?? i}]`;
}

export interface LabNetwork extends NetworkDef {
  subnet: Cidr;
  /** The gateway on this lab share's host. */
  gateway: number;
  /** Every host's gateway on this network (a multi-host lab gives each host its own). */
  gateways: Record<string, number>;
  /** The network's IPv6 side, when it has one (`ipv6: true`). */
  ipv6?: LabNetwork6;
}

export interface LabNetwork6 {
  /** Canonical, with its prefix: `fd31:0:0:1::/64`. */
  subnet: string;
  prefix: number;
  /** The gateway on this lab share's host. */
  gateway: string;
  /** Every host's gateway (a multi-host lab gives each host its own, as for IPv4). */
  gateways: Record<string, string>;
}

export interface LabHost {
  name: string;
  underlay: string;
  prefix: number;
}

export interface LabInterface {
  network: string;
  /** Name inside the container: eth0, eth1, ... */
  ifname: string;
  /** Host end of the veth pair. */
  hostVeth: string;
  bridge: string;
  ip: string;
  prefix: number;
  gateway: string;
  /** The IPv6 address on a network with IPv6, its prefix and the gateway of the container's host. */
  ip6?: string;
  prefix6?: number;
  gateway6?: string;
  mac: string;
  mtu: number;
  /** Delay, jitter, loss, rate on its container end (tc, model/tc.ts), and where the topology says so. */
  impair?: Impairment;
  impairAt?: { path: string; line?: number };
}

export interface ResolvedBinding extends PortBinding {
  /** The container address the port is forwarded to. */
  containerIp: string;
  /** The container's IPv6 address on the same network, when that network has IPv6. */
  containerIp6?: string;
  bridge: string;
}

export interface LabContainer {
  name: string;
  /** Host that runs it, in a multi-host lab. */
  host?: string;
  hostname: string;
  netns: string;
  interfaces: LabInterface[];
  expose: PortProto[];
  ports: ResolvedBinding[];
  /** `ip6`: the child's IPv6 address on that network, for the second /etc/hosts line (link variables stay IPv4, as Docker's). */
  links: { target: string; alias: string; ip: string; ip6?: string }[];
  /** The environment of every process in the container: link variables, then its own `env`. */
  env: [string, string][];
  /** The container's own `env` (what a link to it shows as _ENV_ variables). */
  ownEnv: Record<string, string>;
  command?: string | string[];
  /** Mounts, user, workdir, restart policy (topology/runtime.ts). */
  runtime?: ContainerRuntime;
  /** Network-scoped aliases, by network name. */
  aliases: Record<string, string[]>;
  /**
   * Set when the container is on a user-defined network and resolves through the lab's embedded
   * DNS: the servers it forwards other names to, and whether it also keeps the hosts-file peer
   * lines (it is also on a network without DNS).
   */
  resolver?: { upstreams: string[]; hostsPeers: boolean };
  files: { hosts: string; resolv: string; hostname: string };
  /**
   * Its /etc/hosts as pieces that share the lab's peer lists (fillHostsFiles writes it with
   * files.hosts): what the thread writing the file is handed. Never in the state file (labJson).
   */
  hostsPieces?: TextPiece[];
}

export interface Lab {
  name: string;
  source: string;
  firewall: 'iptables' | 'nftables';
  /** Machines of a multi-host lab (empty for a single-host one). */
  hosts: LabHost[];
  /** The host this view is built for: its share is what `up` creates here. */
  host?: string;
  networks: LabNetwork[];
  containers: LabContainer[];
}

/** What the host has that the plan must respect. */
export interface LabContext {
  /** Routes and addresses on the host, and other labs' subnets: a picked subnet avoids them all. */
  takenSubnets: TakenSubnet[];
  /** The same for IPv6: host routes and addresses, other labs' IPv6 subnets. */
  takenSubnets6?: TakenSubnet6[];
  /** What this lab had before: kept so `up` never renumbers. */
  previous?: PreviousAllocation;
  /** Host ports in use, by `port/proto`, with who holds each (`a listening socket`, `lab NAME`). */
  usedHostPorts: Map<string, string>;
  /** `ip_local_port_range`, for publish entries without a host port. */
  ephemeralRange: { start: number; end: number };
  hostResolvConf: { text: string; source: string };
  ipv6: boolean;
}

export interface TakenSubnet {
  cidr: Cidr;
  /** What holds it, for the error message: `route 10.0.0.0/8 dev eth0`, `lab web`. */
  by: string;
}

export interface PreviousAllocation {
  subnets: Record<string, string>;
  /** `container/network` → address. */
  addresses: Record<string, string>;
  /** The same for IPv6 networks: subnet by network, address by `container/network`. */
  subnets6?: Record<string, string>;
  addresses6?: Record<string, string>;
  /** `container/containerPort/proto/index` → host port chosen before. */
  hostPorts: Record<string, number>;
}

/** Resolves the whole lab; with `host`, gateways are that host's (its share is what desired.ts builds). */
export function resolveLab(topo: Topology, ctx: LabContext, host?: string): Lab {
  const multi = topo.hosts.length > 0;
  if (multi) host ??= topo.hosts[0]!.name;
  // Every host of a multi-host lab must compute the same addresses from the file alone.
  if (multi) ctx = { ...ctx, previous: undefined };
  const networks = resolveNetworks(topo, ctx, host);
  resolveNetworks6(topo, ctx, networks, host);
  const netByName = new Map(networks.map((n) => [n.name, n]));
  const addresses6 = allocate6(topo, ctx, networks);
  const addresses = allocate4(topo, ctx, networks);
  const ports = new HostPortPicker(ctx.usedHostPorts.keys());
  for (const c of topo.containers) for (const b of c.publish) for (const p of hostPortsOf(b)) ports.take(p, b.proto);
  const veths = vethHostNames(
    topo.name,
    topo.containers.flatMap((c) => c.networks.map((network) => ({ container: c.name, network }))),
  );
  const partial = topo.containers.map((c) => {
    const interfaces = c.networks.map((netName, i) => labInterface(c, i, netByName.get(netName)!, { v4: addresses, v6: addresses6, veths }));
    return { def: c, interfaces, ports: resolvedBindings(topo, ctx, ports, c, interfaces[0]) };
  });
  const byName = new Map(partial.map((p) => [p.def.name, p]));
  const files = etcTexts();
  const containers = partial.map(({ def, interfaces, ports }) => labContainer(topo, def, interfaces, ports, { byName, netByName, files }, ctx));
  fillHostsFiles(containers, ctx.ipv6);
  const hosts = topo.hosts.map((h) => ({ name: h.name, underlay: formatIp(h.underlay), prefix: h.prefix }));
  return { name: topo.name, source: topo.source, firewall: topo.firewall, hosts, host, networks, containers };
}

/** The IPv4 side of each network: its given subnet (refused when the host has it), the one it had, or a free one; its gateways. */
function resolveNetworks(topo: Topology, ctx: LabContext, host: string | undefined): LabNetwork[] {
  const multi = topo.hosts.length > 0;
  // The lab's own given subnets are taken too: a picked or kept subnet must not overlap them.
  const given = topo.networks.flatMap((n) => (n.subnet ? [n.subnet] : []));
  // And the subnets other networks of the lab keep from the last `up`: a new network listed before them must not pick one.
  const kept = topo.networks.flatMap((n) => {
    const text = ctx.previous?.subnets[n.name];
    const c = text && !n.subnet ? parseCidr(text) : undefined;
    return c && c.prefix < 32 ? [c] : [];
  });
  const taken = [...ctx.takenSubnets.map((t) => t.cidr), ...given, ...kept];
  return topo.networks.map((n) => {
    // An IPv6-only network takes nothing from the IPv4 pools (NO_IPV4 is never on a bridge).
    if (n.ipv4 === false) return { ...n, subnet: NO_IPV4, gateway: 0, gateways: multi ? Object.fromEntries(topo.hosts.map((h) => [h.name, 0])) : { '': 0 } };
    const subnet = subnetOf(topo, ctx, n, given, taken);
    const gateways: Record<string, number> = multi ? Object.fromEntries(topo.hosts.map((h, i) => [h.name, subnet.network + 1 + i])) : { '': n.gateway ?? subnet.network + 1 };
    return { ...n, subnet, gateway: gateways[host ?? '']!, gateways };
  });
}

/** A network's IPv4 subnet; a picked one joins `taken`, so the next network picks another. */
function subnetOf(topo: Topology, ctx: LabContext, n: NetworkDef, given: Cidr[], taken: Cidr[]): Cidr {
  let subnet = n.subnet;
  if (subnet) {
    const clash = ctx.takenSubnets.find((t) => overlaps(t.cidr, subnet!));
    const path = `networks.${n.name}.subnet`;
    if (clash) throw new SubnetTakenError(path, placeIn(topo, path, `${formatCidr(subnet)} overlaps ${clash.by}`));
  }
  const kept = ctx.previous?.subnets[n.name];
  const previous = kept && kept !== formatCidr(NO_IPV4) ? parseCidr(kept) : undefined;
  if (!subnet && previous && !given.some((g) => overlaps(g, previous))) subnet = previous;
  subnet ??= pickSubnet(taken);
  if (!n.subnet) taken.push(subnet);
  return subnet;
}

/** Each container's IPv4 address on each network with IPv4, by `container/network`: fixed, kept, or the next free. */
function allocate4(topo: Topology, ctx: LabContext, networks: LabNetwork[]): Map<string, number> {
  const addresses = new Map<string, number>();
  for (const net of networks.filter((n) => n.ipv4 !== false)) {
    const members = topo.containers.filter((c) => c.networks.includes(net.name));
    const prev = (c: ContainerDef) => {
      const text = ctx.previous?.addresses[`${c.name}/${net.name}`];
      return text ? parseIp(text) : undefined;
    };
    const got = allocateAddresses(
      net.subnet,
      Object.values(net.gateways),
      members.map((c) => ({ name: c.name, fixed: c.staticIps[net.name], previous: prev(c) })),
    );
    for (const [name, ip] of got) addresses.set(`${name}/${net.name}`, ip);
  }
  return addresses;
}

/** The allocations an interface is built from, by `container/network`. */
interface Allocations {
  v4: Map<string, number>;
  v6: Map<string, string>;
  veths: Map<string, string>;
}

/** Interface `i` of container `c`, on network `net`. */
function labInterface(c: ContainerDef, i: number, net: LabNetwork, got: Allocations): LabInterface {
  const key = `${c.name}/${net.name}`;
  const ip = got.v4.get(key);
  const ip6 = got.v6.get(key);
  return {
    network: net.name,
    ifname: containerIfName(i),
    hostVeth: got.veths.get(key)!,
    bridge: net.bridge,
    // An IPv6-only network (`ipv4: false`) gives no IPv4 address: its subnet only keeps the plan's shape.
    ...(ip === undefined ? { ip: '', prefix: 0, gateway: '' } : { ip: formatIp(ip), prefix: net.subnet.prefix, gateway: formatIp(net.gateways[c.host ?? '']!) }),
    ...(ip6 && net.ipv6 ? { ip6, prefix6: net.ipv6.prefix, gateway6: net.ipv6.gateways[c.host ?? '']! } : {}),
    // IPv6 only: the MAC from the IPv6 address's last 32 bits (unique on its /64 as netlab numbers it).
    mac: macFromIp(ip ?? Number(BigInt.asUintN(32, parseIp6(ip6!)!))),
    mtu: net.mtu,
    ...(c.impair?.[net.name] ? { impair: c.impair[net.name].impair, impairAt: c.impair[net.name].at } : {}),
  };
}

/** The container's published ports (and, with `publishAll`, its other exposed ones), each with its host port, forwarded to its first interface. */
function resolvedBindings(topo: Topology, ctx: LabContext, ports: HostPortPicker, c: ContainerDef, primary: LabInterface | undefined): ResolvedBinding[] {
  const bindings: PortBinding[] = [...c.publish];
  if (c.publishAll) {
    const published = forwardedBy(c.publish);
    for (const p of c.expose) if (!published(p)) bindings.push({ hostIp: '0.0.0.0', hostPort: 0, containerPort: p.port, proto: p.proto });
  }
  return bindings.map((b, i) => {
    const hostPort = b.hostPort || autoHostPort(topo, ctx, ports, c, b, i);
    return { ...b, hostPort, containerIp: primary?.ip ?? '', ...(primary?.ip6 ? { containerIp6: primary.ip6 } : {}), bridge: primary?.bridge ?? '' };
  });
}

/** The resolv.conf texts and upstream lists, made once per set of overrides (most containers have none). */
function etcTexts(): <T>(key: string, make: () => T) => T {
  const made = new Map<string, unknown>();
  return <T>(key: string, make: () => T): T => {
    if (!made.has(key)) made.set(key, make());
    return made.get(key) as T;
  };
}

/** What a container is resolved against: the others (for links), the networks, the shared /etc texts. */
interface ContainerContext {
  byName: Map<string, { def: ContainerDef; interfaces: LabInterface[] }>;
  netByName: Map<string, LabNetwork>;
  files: <T>(key: string, make: () => T) => T;
}

/** A resolved container: links, environment, resolver, /etc files (bar /etc/hosts, which fillHostsFiles writes). */
function labContainer(topo: Topology, def: ContainerDef, interfaces: LabInterface[], ports: ResolvedBinding[], cc: ContainerContext, ctx: LabContext): LabContainer {
  const links = linksOf(def, cc);
  const overrides = { servers: def.dns, search: def.dnsSearch, options: def.dnsOptions };
  const resolver = resolverOf(def, overrides, cc, ctx);
  // Docker keeps the host's IPv6 name servers for a container with IPv6.
  const has6 = interfaces.some((i) => i.ip6);
  const { text, source } = ctx.hostResolvConf;
  return {
    name: def.name,
    host: def.host,
    hostname: def.hostname,
    netns: netnsName(topo.name, def.name),
    interfaces,
    expose: def.expose,
    ports,
    links,
    env: envOf(def, links, cc),
    ownEnv: def.env,
    command: def.command,
    runtime: def.runtime,
    aliases: def.aliases,
    ...(resolver ? { resolver } : {}),
    files: {
      hosts: '',
      resolv: resolver
        ? cc.files(`int|${JSON.stringify(overrides)}`, () => internalResolvConf(text, source, overrides))
        : cc.files(`leg|${has6}|${JSON.stringify(overrides)}`, () => resolvConf(text, source, has6, overrides)),
      hostname: `${def.hostname}\n`,
    },
  };
}

/** A link resolves to the child's address on the first network the two share. */
function linksOf(def: ContainerDef, { byName }: ContainerContext): LabContainer['links'] {
  return def.links.map((l) => {
    const child = byName.get(l.target)!;
    const shared = child.interfaces.find((ci) => def.networks.includes(ci.network))!;
    return { target: l.target, alias: l.alias, ip: shared.ip, ...(shared.ip6 ? { ip6: shared.ip6 } : {}) };
  });
}

/** The link variables of each link, then the container's own `env`. */
function envOf(def: ContainerDef, links: LabContainer['links'], { byName }: ContainerContext): [string, string][] {
  const env: [string, string][] = [];
  for (const l of links) {
    const child = byName.get(l.target)!.def;
    for (const v of linkEnv(def.name, l.alias, { name: child.name, ip: l.ip, ports: child.expose, env: child.env })) env.push(v);
  }
  for (const v of Object.entries(def.env)) env.push(v);
  return env;
}

/** The embedded DNS's settings for a container on a network with it; undefined on networks without. */
function resolverOf(def: ContainerDef, overrides: DnsOverrides, { netByName, files }: ContainerContext, ctx: LabContext): LabContainer['resolver'] {
  const onDns = def.networks.map((n) => netByName.get(n)!.dns);
  // Docker 26+: a container on internal networks only gets no forwarding to external servers.
  const isolated = def.networks.every((n) => netByName.get(n)!.internal);
  const upstreams = isolated ? [] : files(`up|${JSON.stringify(overrides)}`, () => upstreamServers(ctx.hostResolvConf.text, overrides));
  return onDns.some(Boolean) ? { upstreams, hostsPeers: !onDns.every(Boolean) } : undefined;
}

/**
 * The host port of binding `i` of `c`, which names none: the one it had before when still free
 * and in range, else the first free one of its range. None left: refused, naming the entry.
 */
function autoHostPort(topo: Topology, ctx: LabContext, ports: HostPortPicker, c: ContainerDef, b: PortBinding, i: number): number {
  const before = ctx.previous?.hostPorts[`${c.name}/${b.containerPort}/${b.proto}/${i}`];
  const range = b.hostRange ?? ctx.ephemeralRange;
  if (before && before >= range.start && before <= range.end && ports.isFree(before, b.proto)) {
    ports.take(before, b.proto);
    return before;
  }
  const got = ports.pick(range, b.proto);
  if (got !== undefined) return got;
  const path = publishPath(c, i);
  const why = b.hostRange ? `its host range ${range.start}-${range.end}` : `the host's range for automatic ports (ip_local_port_range ${range.start}-${range.end})`;
  throw new InputError([{ path, message: `no free host port left for container port ${b.containerPort}/${b.proto} in ${why}`, line: topo.lines?.[path] }], topo.source);
}

/** What to remember so the next `up` keeps every choice. */
export function allocationOf(lab: Lab): PreviousAllocation {
  const hostPorts: Record<string, number> = {};
  for (const c of lab.containers) {
    for (const [i, p] of c.ports.entries()) hostPorts[`${c.name}/${p.containerPort}/${p.proto}/${i}`] = p.hostPort;
  }
  return {
    subnets: Object.fromEntries(lab.networks.map((n) => [n.name, formatCidr(n.subnet)])),
    addresses: Object.fromEntries(lab.containers.flatMap((c) => c.interfaces.map((i) => [`${c.name}/${i.network}`, i.ip]))),
    hostPorts,
    ...(lab.networks.some((n) => n.ipv6) ? allocation6(lab) : {}),
  };
}
