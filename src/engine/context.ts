/** Gathers what the host already has that a new lab must avoid: routes, addresses, ports, other labs. */
import { readdir } from 'node:fs/promises';
import { parseCidr } from '../model/ipv4.js';
import { overlaps6, parseCidr6 } from '../model/ipv6.js';
import type { TakenSubnet6 } from '../model/lab6.js';
import { kernelHasIpv6 } from '../kernel/host.js';
import { parseMark } from '../model/names.js';
import { hostPortsOf } from '../model/ports.js';
import type { LabContext, PreviousAllocation, TakenSubnet } from '../model/lab.js';
import { RUN_DIR } from '../paths.js';
import { readSysctl, readText } from '../kernel/host.js';
import { run } from '../kernel/run.js';
import { libcUnavailable } from '../native/libc.js';
import { log } from '../log.js';
import { readShares } from './state.js';
import type { IpLink } from '../kernel/linkview.js';
import { ownProxySockets } from '../proxy/lifecycle.js';
import { ABSENT, ifErrno } from '../kernel/errno.js';

/**
 * The host's links (with their IPv4 addresses) and routes, as gatherContext reads them; `inProcess`
 * when from one rtnetlink socket in-process (nldump.ts), the same dump as a backend's readHost()
 * when it has `hostInProcess`.
 */
export interface HostView {
  links: IpLink[];
  routes: Route[];
  inProcess: boolean;
}

/** `host`: the host's read when the caller wants it too (a promise: the file reads below go on meanwhile). */
export async function gatherContext(lab: string, previous: PreviousAllocation | undefined, host: Promise<HostView> = readHostView()): Promise<LabContext> {
  const [{ routes, links: addrs }, others, listening, range, resolv] = await Promise.all([
    host,
    // A simulated host is a namespace of its own: other labs' subnets do not reach it.
    process.env.NETLAB_SIMULATED_HOST === '1' ? { subnets: [], subnets6: [], ports: [] } : otherLabs(lab),
    // The lab's own proxy holds its ports at [::1]: they are not taken from it.
    listeningPorts(ownProxySockets(lab)),
    readSysctl('net.ipv4.ip_local_port_range'),
    hostResolvConf(),
  ]);
  // The lab's own bridges carry its current subnets: those are not taken from it.
  const ownDevs = new Set(addrs.filter((a) => parseMark(a.ifalias)?.lab === lab).map((a) => a.ifname));
  const taken: TakenSubnet[] = [...others.subnets];
  for (const r of routes) {
    if ((r.dev && ownDevs.has(r.dev)) || r.type === 'local' || r.type === 'broadcast') continue;
    // Local and broadcast routes repeat the addresses below; the loopback range is no lab's concern.
    const c = r.dst === 'default' ? undefined : parseCidr(r.dst.includes('/') ? r.dst : `${r.dst}/32`, false);
    if (c && r.dev !== 'lo') taken.push({ cidr: c, by: `the route to ${r.dst}${r.dev ? ` dev ${r.dev}` : ''}` });
  }
  for (const a of addrs) {
    if (ownDevs.has(a.ifname) || a.ifname === 'lo') continue;
    for (const i of a.addr_info ?? []) {
      const c = parseCidr(`${i.local}/${i.prefixlen}`, false);
      if (c) taken.push({ cidr: c, by: `address ${i.local}/${i.prefixlen} on ${a.ifname}` });
    }
  }
  const [start, end] = (range ?? '32768 60999').split(/\s+/).map(Number);
  return {
    takenSubnets: taken,
    takenSubnets6: [...others.subnets6, ...takenByHost6(routes, addrs, ownDevs)],
    previous,
    usedHostPorts: new Map([...[...listening].map((port) => [port, 'a listening socket'] as const), ...others.ports]),
    ephemeralRange: { start: start!, end: end! },
    hostResolvConf: resolv,
    ipv6: kernelHasIpv6(),
  };
}

type Route = { dst: string; dev?: string; type?: string };

/** The host's IPv6 routes and global addresses (not the lab's own bridges', not loopback): an automatic subnet6 avoids them. */
function takenByHost6(routes: Route[], addrs: IpLink[], ownDevs: Set<string>): TakenSubnet6[] {
  const taken: TakenSubnet6[] = [];
  for (const r of routes) {
    if (!r.dst.includes(':') || (r.dev && ownDevs.has(r.dev)) || r.dev === 'lo' || r.type === 'local' || r.type === 'multicast') continue;
    const c = parseCidr6(r.dst.includes('/') ? r.dst : `${r.dst}/128`, false);
    // fe80::/64 is on every link, and no subnet6 may be link-local anyway.
    if (c && c.prefix > 0 && !overlaps6(c, LINK_LOCAL)) taken.push({ cidr: c, by: `the route to ${r.dst}${r.dev ? ` dev ${r.dev}` : ''}` });
  }
  for (const a of addrs) {
    if (ownDevs.has(a.ifname) || a.ifname === 'lo') continue;
    for (const i of a.addr_info ?? []) {
      const c = i.family === 'inet6' && i.scope === 'global' ? parseCidr6(`${i.local}/${i.prefixlen}`, false) : undefined;
      if (c) taken.push({ cidr: c, by: `address ${i.local}/${i.prefixlen} on ${a.ifname}` });
    }
  }
  return taken;
}

const LINK_LOCAL = parseCidr6('fe80::/10')!;

/** The host's IPv4 routes in every table and its links with their addresses: one rtnetlink socket in-process (nldump.ts), else `ip`. */
export async function readHostView(): Promise<HostView> {
  // Only a missing libc sends the read to `ip`: an error of the dump itself is a bug, and surfaces.
  const unavailable = libcUnavailable();
  if (unavailable === undefined) {
    const { dumpHostLinksAndRoutes } = await import('../kernel/nldump.js');
    return { ...dumpHostLinksAndRoutes(), inProcess: true };
  }
  log().info({ reason: unavailable }, 'no in-process netlink here: the host is read with ip');
  const [routes, routes6, links] = await Promise.all([
    run('ip', ['-j', '-4', 'route', 'show', 'table', 'all']).then((r) => JSON.parse(r.stdout) as Route[]),
    // A kernel without IPv6 has no IPv6 routes to avoid.
    run('ip', ['-j', '-6', 'route', 'show', 'table', 'all'], { allowFail: true }).then((r) => (r.exitCode === 0 ? (JSON.parse(r.stdout || '[]') as Route[]) : [])),
    run('ip', ['-j', '-d', 'addr', 'show']).then((r) => JSON.parse(r.stdout) as IpLink[]),
  ]);
  return { routes: [...routes, ...routes6], links, inProcess: false };
}

/** Subnets and published host ports (with `lab NAME`) of every other lab on this host, from their state files. */
async function otherLabs(lab: string): Promise<{ subnets: TakenSubnet[]; subnets6: TakenSubnet6[]; ports: [string, string][] }> {
  let names: string[] = [];
  try {
    names = await readdir(RUN_DIR);
  } catch (e) {
    return ifErrno(e, ABSENT, { subnets: [], subnets6: [], ports: [] });
  }
  const out = { subnets: [] as TakenSubnet[], subnets6: [] as TakenSubnet6[], ports: [] as [string, string][] };
  for (const other of names.filter((n) => n !== lab && !n.startsWith('.'))) {
    for (const s of await readShares(other)) {
      for (const text of Object.values(s.allocation.subnets)) {
        const c = parseCidr(text);
        if (c) out.subnets.push({ cidr: c, by: `lab ${other}` });
      }
      for (const text of Object.values(s.allocation.subnets6 ?? {})) {
        const c = parseCidr6(text);
        if (c) out.subnets6.push({ cidr: c, by: `lab ${other}` });
      }
      for (const c of s.resolved.containers) if (!s.host || c.host === s.host) for (const p of c.ports) for (const port of hostPortsOf(p)) out.ports.push([`${port}/${p.proto}`, `lab ${other}`]);
    }
  }
  return out;
}

/** Host ports with a listening TCP socket or a bound UDP socket in the host's namespace, as `port/proto`, but for sockets in `ignore` (by inode). */
export async function listeningPorts(ignore: Set<number> = new Set()): Promise<Set<string>> {
  const out = new Set<string>();
  for (const [port, inodes] of await listeningSockets()) if (inodes.some((i) => !ignore.has(i))) out.add(port);
  return out;
}

/** The inodes of the listening TCP and bound UDP sockets in the host's namespace, by `port/proto`. */
export async function listeningSockets(): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const [file, proto, listenOnly] of [
    ['/proc/net/tcp', 'tcp', true],
    ['/proc/net/tcp6', 'tcp', true],
    ['/proc/net/udp', 'udp', false],
    ['/proc/net/udp6', 'udp', false],
  ] as const) {
    const text = (await readText(file)) ?? '';
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      if (listenOnly && f[3] !== '0A') continue;
      const key = `${parseInt(f[1]!.split(':')[1]!, 16)}/${proto}`;
      out.set(key, [...(out.get(key) ?? []), Number(f[9])]);
    }
  }
  return out;
}

/** The host's resolv.conf, or systemd-resolved's upstream file when the host only points at its stub. */
async function hostResolvConf(): Promise<{ text: string; source: string }> {
  const etc = (await readText('/etc/resolv.conf')) ?? '';
  const servers = etc.split('\n').filter((l) => l.trim().startsWith('nameserver'));
  if (servers.length === 1 && servers[0]!.includes('127.0.0.53')) {
    const upstream = await readText('/run/systemd/resolve/resolv.conf');
    if (upstream !== undefined) return { text: upstream, source: '/run/systemd/resolve/resolv.conf' };
  }
  return { text: etc, source: '/etc/resolv.conf' };
}
