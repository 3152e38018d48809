/**
 * Topology + what the host already has → Lab: every address, name, MAC, port and file
 * decided. Pure: the engine gathers the context, this decides.
 */
import type { ContainerRuntime } from '../topology/runtime.js';
import type { ContainerDef, NetworkDef, Topology } from '../topology/types.js';
import { formatCidr, formatIp, overlaps, parseCidr, parseIp, type Cidr } from './ipv4.js';
import { allocateAddresses, HostPortPicker, pickSubnet } from './ipam.js';
import { containerIfName, macFromIp, netnsName, vethHostNames } from './names.js';
import { linkEnv, hostsNames } from './links.js';
import { hostsLine, hostsPieces, internalResolvConf, joinPieces, resolvConf, upstreamServers, type HostsEntry, type TextPiece } from './etcfiles.js';
import { portKey, type PortBinding, type PortProto } from './ports.js';
import { formatProblem, InputError } from '../errors.js';
import type { Impairment } from './impair.js';

/** A subnet given in the topology collides with the host or another lab. */
export class SubnetTakenError extends Error {
  constructor(
    /** The YAML path of the subnet, `networks.NAME.subnet`. */
    readonly path: string,
    /** `file:line: path: reason`. */
    message: string,
  ) {
    super(message);
  }
}

/** Where an entry of the topology is: `file:line: path: ` as every message starts (topo.lines knows the line). */
export function placeIn(topo: Pick<Topology, 'source' | 'lines'>, path: string, message: string): string {
  return formatProblem({ path, message, line: topo.lines?.[path] }, topo.source);
}

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
  mac: string;
  mtu: number;
  /** Delay, jitter, loss, rate on its container end (tc, model/tc.ts), and where the topology says so. */
  impair?: Impairment;
  impairAt?: { path: string; line?: number };
}

export interface ResolvedBinding extends PortBinding {
  /** The container address the port is forwarded to. */
  containerIp: string;
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
  links: { target: string; alias: string; ip: string }[];
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
  /** `container/containerPort/proto/index` → host port chosen before. */
  hostPorts: Record<string, number>;
}

/** Resolves the whole lab; with `host`, gateways are that host's (its share is what desired.ts builds). */
export function resolveLab(topo: Topology, ctx: LabContext, host?: string): Lab {
  const multi = topo.hosts.length > 0;
  if (multi) host ??= topo.hosts[0]!.name;
  // Every host of a multi-host lab must compute the same addresses from the file alone.
  if (multi) ctx = { ...ctx, previous: undefined };
  // The lab's own given subnets are taken too: a picked or kept subnet must not overlap them.
  const given = topo.networks.flatMap((n) => (n.subnet ? [n.subnet] : []));
  const taken = [...ctx.takenSubnets.map((t) => t.cidr), ...given];
  const networks: LabNetwork[] = topo.networks.map((n) => {
    let subnet = n.subnet;
    if (subnet) {
      const clash = ctx.takenSubnets.find((t) => overlaps(t.cidr, subnet!));
      const path = `networks.${n.name}.subnet`;
      if (clash) throw new SubnetTakenError(path, placeIn(topo, path, `${formatCidr(subnet)} overlaps ${clash.by}`));
    }
    const previous = ctx.previous?.subnets[n.name] ? parseCidr(ctx.previous.subnets[n.name]!) : undefined;
    if (!subnet && previous && !given.some((g) => overlaps(g, previous))) subnet = previous;
    subnet ??= pickSubnet(taken);
    if (!n.subnet) taken.push(subnet);
    const gateways: Record<string, number> = multi ? Object.fromEntries(topo.hosts.map((h, i) => [h.name, subnet!.network + 1 + i])) : { '': n.gateway ?? subnet.network + 1 };
    return { ...n, subnet, gateway: gateways[host ?? '']!, gateways };
  });
  const netByName = new Map(networks.map((n) => [n.name, n]));

  const addresses = new Map<string, number>();
  for (const net of networks) {
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

  const ports = new HostPortPicker(ctx.usedHostPorts.keys());
  for (const c of topo.containers) for (const b of c.publish) if (b.hostPort) ports.take(b.hostPort, b.proto);

  const veths = vethHostNames(
    topo.name,
    topo.containers.flatMap((c) => c.networks.map((network) => ({ container: c.name, network }))),
  );
  const partial = topo.containers.map((c) => {
    const interfaces: LabInterface[] = c.networks.map((netName, i) => {
      const net = netByName.get(netName)!;
      const ip = addresses.get(`${c.name}/${netName}`)!;
      return {
        network: netName,
        ifname: containerIfName(i),
        hostVeth: veths.get(`${c.name}/${netName}`)!,
        bridge: net.bridge,
        ip: formatIp(ip),
        prefix: net.subnet.prefix,
        gateway: formatIp(net.gateways[c.host ?? '']!),
        mac: macFromIp(ip),
        mtu: net.mtu,
        ...(c.impair?.[netName] ? { impair: c.impair[netName].impair, impairAt: c.impair[netName].at } : {}),
      };
    });
    const primary = interfaces[0];
    const bindings: PortBinding[] = [...c.publish];
    if (c.publishAll) {
      const published = new Set(c.publish.map((b) => `${b.containerPort}/${b.proto}`));
      for (const p of c.expose) if (!published.has(portKey(p))) bindings.push({ hostIp: '0.0.0.0', hostPort: 0, containerPort: p.port, proto: p.proto });
    }
    const resolved: ResolvedBinding[] = bindings.map((b, i) => {
      const hostPort = b.hostPort || autoHostPort(topo, ctx, ports, c, b, i);
      return { ...b, hostPort, containerIp: primary?.ip ?? '', bridge: primary?.bridge ?? '' };
    });
    return { def: c, interfaces, ports: resolved };
  });
  const byName = new Map(partial.map((p) => [p.def.name, p]));

  // The resolv.conf texts and upstream lists: one per set of overrides (most containers have none).
  const made = new Map<string, unknown>();
  const once = <T>(key: string, make: () => T): T => {
    if (!made.has(key)) made.set(key, make());
    return made.get(key) as T;
  };
  const containers: LabContainer[] = partial.map(({ def, interfaces, ports }) => {
    // A link resolves to the child's address on the first network the two share.
    const links = def.links.map((l) => {
      const child = byName.get(l.target)!;
      const shared = child.interfaces.find((ci) => def.networks.includes(ci.network))!;
      return { target: l.target, alias: l.alias, ip: shared.ip };
    });
    const env: [string, string][] = [];
    for (const l of links) {
      const child = byName.get(l.target)!.def;
      for (const v of linkEnv(def.name, l.alias, { name: child.name, ip: l.ip, ports: child.expose, env: child.env })) env.push(v);
    }
    for (const v of Object.entries(def.env)) env.push(v);

    const overrides = { servers: def.dns, search: def.dnsSearch, options: def.dnsOptions };
    const onDns = def.networks.map((n) => netByName.get(n)!.dns);
    // Docker 26+: a container on internal networks only gets no forwarding to external servers.
    const isolated = def.networks.every((n) => netByName.get(n)!.internal);
    const upstreams = isolated ? [] : once(`up|${JSON.stringify(overrides)}`, () => upstreamServers(ctx.hostResolvConf.text, overrides));
    const resolver = onDns.some(Boolean) ? { upstreams, hostsPeers: !onDns.every(Boolean) } : undefined;
    return {
      name: def.name,
      host: def.host,
      hostname: def.hostname,
      netns: netnsName(topo.name, def.name),
      interfaces,
      expose: def.expose,
      ports,
      links,
      env,
      ownEnv: def.env,
      command: def.command,
      runtime: def.runtime,
      aliases: def.aliases,
      ...(resolver ? { resolver } : {}),
      files: {
        hosts: '',
        resolv: resolver
          ? once(`int|${JSON.stringify(overrides)}`, () => internalResolvConf(ctx.hostResolvConf.text, ctx.hostResolvConf.source, overrides))
          : once(`leg|${JSON.stringify(overrides)}`, () => resolvConf(ctx.hostResolvConf.text, ctx.hostResolvConf.source, false, overrides)),
        hostname: `${def.hostname}\n`,
      },
    };
  });
  fillHostsFiles(containers, ctx.ipv6);

  const hosts = topo.hosts.map((h) => ({ name: h.name, underlay: formatIp(h.underlay), prefix: h.prefix }));
  return { name: topo.name, source: topo.source, firewall: topo.firewall, hosts, host, networks, containers };
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

/**
 * Writes every container's /etc/hosts text (files.hosts): the defaults, its links, every other
 * container of the lab unless only the embedded DNS names them, then its own line. It follows
 * from the resolved containers alone, so the state file leaves it out and this rebuilds it.
 */
export function fillHostsFiles(containers: LabContainer[], ipv6: boolean): void {
  const byName = new Map(containers.map((c) => [c.name, c]));
  const peers = peerLines(containers);
  for (const c of containers) {
    const entries: HostsEntry[] = c.links.map((l) => ({ ip: l.ip, names: hostsNames(l.alias, byName.get(l.target)?.hostname, l.target) }));
    // On user-defined networks the embedded DNS knows the peers; the file holds what Docker's does.
    const others =
      c.resolver && !c.resolver.hostsPeers
        ? []
        : peers(
            c.interfaces.map((i) => i.network),
            [c.name, ...c.links.map((l) => l.target)],
          );
    const own = { ip: c.interfaces[0]?.ip ?? '127.0.1.1', names: hostsNames(c.hostname, c.hostname.split('.')[0], c.name) };
    const pieces = hostsPieces(entries, own, ipv6, others);
    c.files.hosts = joinPieces(pieces);
    hostsPiecesByFiles.set(c.files, { text: c.files.hosts, pieces });
  }
}

/** Beside each container's files (not in them: the state file keeps the files), its /etc/hosts as pieces. */
const hostsPiecesByFiles = new WeakMap<LabContainer['files'], { text: string; pieces: TextPiece[] }>();

/** The container's /etc/hosts as pieces (etcfiles.ts), when fillHostsFiles made it here. */
export function hostsPiecesOf(c: LabContainer): TextPiece[] | undefined {
  const made = hostsPiecesByFiles.get(c.files);
  // Only while the text is the one they make (the same string: no comparison of its characters).
  return made !== undefined && made.text === c.files.hosts ? made.pieces : undefined;
}

/**
 * The lab-peer lines of every container's /etc/hosts: each other container, in lab order, at its
 * address on the first network (in its own interface order) it shares with the reader, else its
 * first. Readers on the same networks see the same list bar themselves and their links, so the
 * list is rendered once per set of networks and each file takes the slices between the lines it
 * leaves out: linear in the lab's size, where a list per container would be quadratic.
 */
function peerLines(containers: Pick<LabContainer, 'name' | 'hostname' | 'interfaces'>[]): (networks: string[], skip: string[]) => TextPiece[] {
  const index = new Map(containers.map((c, i) => [c.name, i]));
  const names = containers.map((c) => hostsNames(c.hostname, c.name));
  const lists = new Map<string, { text: string; offsets: number[] }>();
  return (networks, skip) => {
    const key = JSON.stringify(networks);
    let list = lists.get(key);
    if (!list) {
      const mine = new Set(networks);
      const offsets: number[] = [0];
      let text = '';
      containers.forEach((other, i) => {
        const shared = other.interfaces.find((oi) => mine.has(oi.network)) ?? other.interfaces[0];
        if (shared) text += hostsLine({ ip: shared.ip, names: names[i]! });
        offsets.push(text.length);
      });
      list = { text, offsets };
      lists.set(key, list);
    }
    const cut = [...new Set(skip.map((n) => index.get(n)).filter((i): i is number => i !== undefined))].sort((a, b) => a - b);
    const out: TextPiece[] = [];
    const { text, offsets } = list;
    let from = 0;
    for (const i of [...cut, containers.length]) {
      if (offsets[i]! > offsets[from]!) out.push({ of: text, start: offsets[from]!, end: offsets[i]! });
      from = i + 1;
    }
    return out;
  };
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
  };
}
