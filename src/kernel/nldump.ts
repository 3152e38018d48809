/**
 * Reading links, addresses and routes with rtnetlink dumps made synchronously through libc
 * (socket, send, recv), parsed straight from the bytes: only the attributes the observer uses.
 * The `netlink` package answers the same dumps through the event loop and parses every
 * attribute of every message (statistics included), which costs a converged `up` of a few
 * hundred containers most of its time; a namespace read here costs a few system calls.
 * The result has the shape of `ip -j -d addr show` / `ip -j route show` (linkview.ts).
 * The same plain socket carries a new container's requests, all in one send (requestAll).
 */
import type { IpLink, IpRoute, NamespaceView } from './linkview.js';
import { inNetns } from './namespaces.js';
import { formatIp6Groups } from '../model/ipv6.js';
import { NETLINK_NETFILTER, NETLINK_ROUTE, NetlinkSocket, forEachAttribute as attrs } from '../native/netlink.js';

const RTM_GETLINK = 18;
const RTM_GETADDR = 22;
const RTM_GETROUTE = 26;
const RTM_NEWLINK = 16;
const RTM_NEWADDR = 20;
const RTM_NEWROUTE = 24;
const AF_INET = 2;
const IFF_UP = 1;
// if_link.h
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_MASTER = 10;
const IFLA_LINKINFO = 18;
const IFLA_IFALIAS = 20;
const IFLA_LINK_NETNSID = 37;
const IFLA_GROUP = 27;
const IFLA_AF_SPEC = 26;
const AF_INET6 = 10;
const IFLA_INET6_CONF = 2;
/** Index of disable_ipv6 in IFLA_INET6_CONF, an array of s32 (the DEVCONF_* enum of linux/ipv6.h). */
const DEVCONF_DISABLE_IPV6 = 26;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_SLAVE_KIND = 4;
const IFLA_INFO_SLAVE_DATA = 5;
const IFLA_BRPORT_MODE = 4;
// if_addr.h, rtnetlink.h
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_TABLE = 15;
const RT_TABLE_MAIN = 254;
const PROTOCOLS: Record<number, string> = { 1: 'redirect', 2: 'kernel', 3: 'boot', 4: 'static', 8: 'gated', 9: 'ra', 10: 'mrt', 11: 'zebra', 12: 'bird', 16: 'dhcp' };

const cstr = (b: Buffer, s: number, e: number) => {
  const z = b.indexOf(0, s);
  return b.toString('utf8', s, z < 0 || z > e ? e : z);
};
const ipv4 = (b: Buffer, s: number) => `${b[s]}.${b[s + 1]}.${b[s + 2]}.${b[s + 3]}`;
/** An IPv6 address of a dump: read as eight 16-bit groups (BigInts cost a host's hundreds of link-local routes a few ms). */
export const ipv6 = (b: Buffer, s: number) => formatIp6Groups([0, 2, 4, 6, 8, 10, 12, 14].map((i) => b.readUInt16BE(s + i)));
const SCOPES: Record<number, string> = { 0: 'global', 200: 'site', 253: 'link', 254: 'host' };
const hex = (n: number) => (n < 16 ? '0' : '') + n.toString(16);
const IFLA_EXT_MASK = 29;
const RTEXT_FILTER_SKIP_STATS = 1 << 3;

/** A link dump's request: an ifinfomsg asking for no statistics (the observer reads none, and they are most of each answer). */
function linkRequest(): Buffer {
  const b = Buffer.alloc(16 + 8);
  b.writeUInt16LE(8, 16);
  b.writeUInt16LE(IFLA_EXT_MASK, 18);
  b.writeUInt32LE(RTEXT_FILTER_SKIP_STATS, 20);
  return b;
}

function parseLink(m: Buffer): { index: number; link: IpLink; master?: number } {
  const index = m.readInt32LE(4);
  const flags = m.readUInt32LE(8);
  const link: IpLink = { ifname: '', mtu: 0, flags: flags & IFF_UP ? ['UP'] : [], addr_info: [] };
  let master: number | undefined;
  const info: NonNullable<IpLink['linkinfo']> = {};
  attrs(m, 16, m.length, (t, s, e) => {
    if (t === IFLA_IFNAME) link.ifname = cstr(m, s, e);
    else if (t === IFLA_MTU) link.mtu = m.readUInt32LE(s);
    else if (t === IFLA_IFALIAS) link.ifalias = cstr(m, s, e);
    else if (t === IFLA_MASTER) master = m.readUInt32LE(s);
    else if (t === IFLA_LINK_NETNSID) link.link_netnsid = m.readInt32LE(s);
    else if (t === IFLA_GROUP) link.group = m.readUInt32LE(s);
    else if (t === IFLA_ADDRESS) {
      const parts: string[] = [];
      for (let i = s; i < e; i++) parts.push(hex(m[i]!));
      link.address = parts.join(':');
    } else if (t === IFLA_AF_SPEC) {
      attrs(m, s, e, (family, fs, fe) => {
        if (family !== AF_INET6) return;
        attrs(m, fs, fe, (it, is, ie) => {
          if (it === IFLA_INET6_CONF && is + 4 * (DEVCONF_DISABLE_IPV6 + 1) <= ie) link.ipv6_disabled = m.readInt32LE(is + 4 * DEVCONF_DISABLE_IPV6) !== 0;
        });
      });
    } else if (t === IFLA_LINKINFO) {
      attrs(m, s, e, (it, is, ie) => {
        if (it === IFLA_INFO_KIND) info.info_kind = cstr(m, is, ie);
        else if (it === IFLA_INFO_SLAVE_KIND) info.info_slave_kind = cstr(m, is, ie);
        else if (it === IFLA_INFO_SLAVE_DATA) attrs(m, is, ie, (st, ss) => st === IFLA_BRPORT_MODE && (info.info_slave_data = { hairpin: m[ss] === 1 }));
      });
    }
  });
  link.linkinfo = { info_kind: info.info_kind, info_slave_kind: info.info_slave_kind, info_slave_data: info.info_slave_data };
  return { index, link, master };
}

/** Links (with their addresses) and, when asked, main-table routes of both families of the namespace the socket is in. */
function readAll(sock: NetlinkSocket, withRoutes: boolean, names?: Map<number, string>): NamespaceView {
  const byIndex = new Map<number, IpLink>();
  const masters: [IpLink, number][] = [];
  const links: IpLink[] = [];
  sock.dump(RTM_GETLINK, linkRequest(), RTM_NEWLINK, (m) => {
    const { index, link, master } = parseLink(m);
    byIndex.set(index, link);
    links.push(link);
    if (master !== undefined) masters.push([link, master]);
  });
  for (const [link, master] of masters) link.master = byIndex.get(master)?.ifname;
  if (names) for (const [index, link] of byIndex) names.set(index, link.ifname);
  // Both families in one dump (AF_UNSPEC): IPv6 addresses with their scope, as `ip` shows them.
  sock.dump(RTM_GETADDR, Buffer.alloc(8), RTM_NEWADDR, (m) => {
    const family = m[0];
    if (family !== AF_INET && family !== AF_INET6) return;
    const read = family === AF_INET ? ipv4 : ipv6;
    let local: string | undefined;
    let address: string | undefined;
    attrs(m, 8, m.length, (t, st) => {
      if (t === IFA_LOCAL) local = read(m, st);
      else if (t === IFA_ADDRESS) address = read(m, st);
    });
    const a = local ?? address;
    const scope = SCOPES[m[3]!] ?? String(m[3]);
    if (a) byIndex.get(m.readUInt32LE(4))?.addr_info?.push({ family: family === AF_INET ? 'inet' : 'inet6', local: a, prefixlen: m[1]!, scope });
  });
  const routes: IpRoute[] = [];
  if (withRoutes) {
    const onRoute = (r: RawRoute) => {
      if (r.table !== RT_TABLE_MAIN || r.oif === undefined) return;
      const route: IpRoute = { dst: r.dst, dev: byIndex.get(r.oif)?.ifname ?? String(r.oif), protocol: PROTOCOLS[r.protocol] ?? String(r.protocol) };
      if (r.gateway) route.gateway = r.gateway;
      routes.push(route);
    };
    dumpRoutes(sock, onRoute, RT_TABLE_MAIN);
  }
  return { links, routes };
}

/** A route as the kernel dumps it: `dst` as ip prints it (`default`, an address, or a prefix). */
interface RawRoute {
  dst: string;
  table: number;
  oif?: number;
  gateway?: string;
  protocol: number;
  type: number;
}

/**
 * Every IPv4 and IPv6 route (in that order: one dump of both families) of every table in the
 * socket's namespace, or of `table` only: the others' addresses are not even formatted (a
 * namespace's local table holds most of its routes).
 */
function dumpRoutes(sock: NetlinkSocket, onRoute: (r: RawRoute) => void, table?: number): void {
  sock.dump(RTM_GETROUTE, Buffer.alloc(12), RTM_NEWROUTE, (m) => {
    const family = m[0];
    if (family !== AF_INET && family !== AF_INET6) return;
    let rtTable = m[4]!;
    let oif: number | undefined;
    let dstAt = -1;
    let gatewayAt = -1;
    attrs(m, 12, m.length, (t, st) => {
      if (t === RTA_TABLE) rtTable = m.readUInt32LE(st);
      else if (t === RTA_OIF) oif = m.readUInt32LE(st);
      else if (t === RTA_DST) dstAt = st;
      else if (t === RTA_GATEWAY) gatewayAt = st;
    });
    if (table !== undefined && rtTable !== table) return;
    const [read, full] = family === AF_INET ? [ipv4, 32] : [ipv6, 128];
    const dstLen = m[1]!;
    const r: RawRoute = { dst: dstAt < 0 ? 'default' : read(m, dstAt) + (dstLen === full ? '' : `/${dstLen}`), table: rtTable, protocol: m[5]!, type: m[7]! };
    if (oif !== undefined) r.oif = oif;
    if (gatewayAt >= 0) r.gateway = read(m, gatewayAt);
    onRoute(r);
  });
}

/**
 * Opens a netlink socket (route by default; inside namespace `ns`, when given), runs `fn` on it,
 * closes it. Undefined when namespace `ns` cannot be entered (gone, or not a namespace).
 */
function withSocket<T>(ns: undefined, fn: (sock: NetlinkSocket) => T, protocol?: number): T;
function withSocket<T>(ns: string, fn: (sock: NetlinkSocket) => T, protocol?: number): T | undefined;
function withSocket<T>(ns: string | undefined, fn: (sock: NetlinkSocket) => T, protocol = NETLINK_ROUTE): T | undefined {
  const open = () => NetlinkSocket.open(protocol);
  let sock: NetlinkSocket;
  try {
    sock = ns === undefined ? open() : inNetns(ns, open);
  } catch (e) {
    if (ns === undefined) throw e;
    return undefined;
  }
  try {
    return fn(sock);
  } finally {
    sock.close();
  }
}

/** The links of this (the host's) namespace with their IPv4 addresses. */
export function dumpHostLinks(): IpLink[] {
  return withSocket(undefined, (sock) => readAll(sock, false).links);
}

/** Links and routes of namespace `ns`; undefined when it is gone or not a namespace. */
export function dumpNamespace(ns: string): NamespaceView | undefined {
  return withSocket(ns, (sock) => readAll(sock, true));
}

/**
 * Only `lo` of namespace `ns` (its mark is its alias, and whether it is up), from one dump of
 * its links instead of three dumps: what the observer needs of a namespace the lab does not
 * want (it goes whole, whatever is in it). A dump, not a request for lo by name: the kernel
 * answers dumps without its rtnl lock, which another run's changes may hold for long.
 * Undefined when the namespace is gone or not a namespace.
 */
export function dumpLoopback(ns: string): NamespaceView | undefined {
  return withSocket(ns, (sock) => {
    const links: IpLink[] = [];
    sock.dump(RTM_GETLINK, linkRequest(), RTM_NEWLINK, (m) => {
      const { link } = parseLink(m);
      if (link.ifname === 'lo') links.push(link);
    });
    return { links, routes: [] };
  });
}

const ROUTE_TYPES: Record<number, string> = { 2: 'local', 3: 'broadcast', 4: 'anycast', 5: 'multicast', 6: 'blackhole', 7: 'unreachable', 8: 'prohibit', 9: 'throw', 10: 'nat' };

/**
 * The host's links with their addresses (as dumpHostLinks), and every route of both families in
 * every table as `ip -j route show table all` lists them (dst, dev, type), from one socket.
 */
export function dumpHostLinksAndRoutes(): { links: IpLink[]; routes: { dst: string; dev?: string; type?: string }[] } {
  return withSocket(undefined, (sock) => {
    const names = new Map<number, string>();
    const { links } = readAll(sock, false, names);
    const routes: { dst: string; dev?: string; type?: string }[] = [];
    const onRoute = (raw: RawRoute) => {
      const r: { dst: string; dev?: string; type?: string } = { dst: raw.dst };
      if (raw.oif !== undefined) r.dev = names.get(raw.oif) ?? String(raw.oif);
      if (ROUTE_TYPES[raw.type]) r.type = ROUTE_TYPES[raw.type];
      routes.push(r);
    };
    dumpRoutes(sock, onRoute);
    return { links, routes };
  });
}

const NFT_MSG_GETTABLE = (10 << 8) | 1; // NFNL_SUBSYS_NFTABLES
const NFT_MSG_NEWTABLE = (10 << 8) | 0;
const NFTA_TABLE_NAME = 1;
const NFPROTO: Record<string, number> = { inet: 1, ip: 2, arp: 3, netdev: 5, bridge: 7, ip6: 10 };

/** Whether nftables has table `family name` here: a netfilter dump of the table list, no `nft` process. */
export function nftTableExists(family: string, name: string): boolean {
  return nftTableNames(family).includes(name);
}

/** The names of nftables' tables of `family` here (`nft list tables`, without the process). */
export function nftTableNames(family: string): string[] {
  return withSocket(
    undefined,
    (sock) => {
      const names: string[] = [];
      sock.dump(NFT_MSG_GETTABLE, Buffer.alloc(4), NFT_MSG_NEWTABLE, (m) => {
        if (m[0] !== NFPROTO[family]) return;
        attrs(m, 4, m.length, (t, st, e) => {
          if (t === NFTA_TABLE_NAME) names.push(cstr(m, st, e));
        });
      });
      return names;
    },
    NETLINK_NETFILTER,
  );
}
