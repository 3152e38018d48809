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
import { NETLINK_NETFILTER, NETLINK_ROUTE, NetlinkSocket, indexAttributes } from '../native/netlink.js';

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
const SCOPE_LINK = 253;
const SCOPES: Record<number, string> = { 0: 'global', 200: 'site', [SCOPE_LINK]: 'link', 254: 'host' };
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

/** Attribute positions of one nesting level each (indexAttributes), reused for every message. */
const level = (types: number) => ({ at: new Int32Array(types), end: new Int32Array(types) });
const LINK = level(IFLA_LINK_NETNSID + 1);
const LINKINFO = level(IFLA_INFO_SLAVE_DATA + 1);
const BRPORT = level(IFLA_BRPORT_MODE + 1);
const AF_SPEC = level(AF_INET6 + 1);
const INET6 = level(IFLA_INET6_CONF + 1);
const ADDR = level(IFA_LOCAL + 1);
const ROUTE = level(RTA_TABLE + 1);

function macOf(b: Buffer, s: number, e: number): string {
  let text = '';
  for (let i = s; i < e; i++) text += (i > s ? ':' : '') + hex(b[i]!);
  return text;
}

/** The link of an RTM_NEWLINK payload b[s, e), with its index and its master's index. */
function parseLink(b: Buffer, s: number, e: number): { index: number; link: IpLink; master?: number } {
  const flags = b.readUInt32LE(s + 8);
  const link: IpLink = { ifname: '', mtu: 0, flags: flags & IFF_UP ? ['UP'] : [], addr_info: [] };
  const { at, end } = LINK;
  indexAttributes(b, s + 16, e, at, end);
  if (at[IFLA_IFNAME]! >= 0) link.ifname = cstr(b, at[IFLA_IFNAME]!, end[IFLA_IFNAME]!);
  if (at[IFLA_MTU]! >= 0) link.mtu = b.readUInt32LE(at[IFLA_MTU]!);
  if (at[IFLA_IFALIAS]! >= 0) link.ifalias = cstr(b, at[IFLA_IFALIAS]!, end[IFLA_IFALIAS]!);
  const master = at[IFLA_MASTER]! >= 0 ? b.readUInt32LE(at[IFLA_MASTER]!) : undefined;
  if (at[IFLA_LINK_NETNSID]! >= 0) link.link_netnsid = b.readInt32LE(at[IFLA_LINK_NETNSID]!);
  if (at[IFLA_GROUP]! >= 0) link.group = b.readUInt32LE(at[IFLA_GROUP]!);
  if (at[IFLA_ADDRESS]! >= 0) link.address = macOf(b, at[IFLA_ADDRESS]!, end[IFLA_ADDRESS]!);
  const afSpec = at[IFLA_AF_SPEC]!;
  const afSpecEnd = end[IFLA_AF_SPEC]!;
  const linkInfo = at[IFLA_LINKINFO]!;
  const linkInfoEnd = end[IFLA_LINKINFO]!;
  if (afSpec >= 0) {
    const ipv6Disabled = disableIpv6(b, afSpec, afSpecEnd);
    if (ipv6Disabled !== undefined) link.ipv6_disabled = ipv6Disabled;
  }
  link.linkinfo = linkInfo >= 0 ? linkInfoOf(b, linkInfo, linkInfoEnd) : { info_kind: undefined, info_slave_kind: undefined, info_slave_data: undefined };
  return { index: b.readInt32LE(s + 4), link, master };
}

/** disable_ipv6 from IFLA_AF_SPEC b[s, e), when it carries IPv6's IFLA_INET6_CONF. */
function disableIpv6(b: Buffer, s: number, e: number): boolean | undefined {
  indexAttributes(b, s, e, AF_SPEC.at, AF_SPEC.end);
  const inet6 = AF_SPEC.at[AF_INET6]!;
  if (inet6 < 0) return undefined;
  indexAttributes(b, inet6, AF_SPEC.end[AF_INET6]!, INET6.at, INET6.end);
  const conf = INET6.at[IFLA_INET6_CONF]!;
  if (conf < 0 || conf + 4 * (DEVCONF_DISABLE_IPV6 + 1) > INET6.end[IFLA_INET6_CONF]!) return undefined;
  return b.readInt32LE(conf + 4 * DEVCONF_DISABLE_IPV6) !== 0;
}

/** The kind, slave kind and (a bridge port's) hairpin of IFLA_LINKINFO b[s, e). */
function linkInfoOf(b: Buffer, s: number, e: number): NonNullable<IpLink['linkinfo']> {
  const { at, end } = LINKINFO;
  indexAttributes(b, s, e, at, end);
  const info: NonNullable<IpLink['linkinfo']> = {
    info_kind: at[IFLA_INFO_KIND]! >= 0 ? cstr(b, at[IFLA_INFO_KIND]!, end[IFLA_INFO_KIND]!) : undefined,
    info_slave_kind: at[IFLA_INFO_SLAVE_KIND]! >= 0 ? cstr(b, at[IFLA_INFO_SLAVE_KIND]!, end[IFLA_INFO_SLAVE_KIND]!) : undefined,
    info_slave_data: undefined,
  };
  if (at[IFLA_INFO_SLAVE_DATA]! >= 0) {
    indexAttributes(b, at[IFLA_INFO_SLAVE_DATA]!, end[IFLA_INFO_SLAVE_DATA]!, BRPORT.at, BRPORT.end);
    if (BRPORT.at[IFLA_BRPORT_MODE]! >= 0) info.info_slave_data = { hairpin: b[BRPORT.at[IFLA_BRPORT_MODE]!] === 1 };
  }
  return info;
}

/**
 * Links (with their addresses) and, when asked, main-table routes of both families of the
 * namespace the socket is in. IPv6 link-local addresses are left out: the kernel makes them on
 * every link, and no reader looks at them (a host has hundreds).
 */
function readAll(sock: NetlinkSocket, withRoutes: boolean, names?: Map<number, string>): NamespaceView {
  const byIndex = new Map<number, IpLink>();
  const masters: [IpLink, number][] = [];
  const links: IpLink[] = [];
  sock.dump(RTM_GETLINK, linkRequest(), RTM_NEWLINK, (b, s, e) => {
    const { index, link, master } = parseLink(b, s, e);
    byIndex.set(index, link);
    links.push(link);
    if (master !== undefined) masters.push([link, master]);
  });
  for (const [link, master] of masters) link.master = byIndex.get(master)?.ifname;
  if (names) for (const [index, link] of byIndex) names.set(index, link.ifname);
  // Both families in one dump (AF_UNSPEC): IPv6 addresses with their scope, as `ip` shows them.
  sock.dump(RTM_GETADDR, Buffer.alloc(8), RTM_NEWADDR, (b, s, e) => {
    const family = b[s];
    if ((family !== AF_INET && family !== AF_INET6) || (family === AF_INET6 && b[s + 3] === SCOPE_LINK)) return;
    indexAttributes(b, s + 8, e, ADDR.at, ADDR.end);
    const at = ADDR.at[IFA_LOCAL]! >= 0 ? ADDR.at[IFA_LOCAL]! : ADDR.at[IFA_ADDRESS]!;
    if (at < 0) return;
    const local = family === AF_INET ? ipv4(b, at) : ipv6(b, at);
    const scope = SCOPES[b[s + 3]!] ?? String(b[s + 3]);
    byIndex.get(b.readUInt32LE(s + 4))?.addr_info?.push({ family: family === AF_INET ? 'inet' : 'inet6', local, prefixlen: b[s + 1]!, scope });
  });
  const routes: IpRoute[] = [];
  if (withRoutes) {
    const onRoute = (r: RawRoute) => {
      if (r.table !== RT_TABLE_MAIN || r.oif === undefined) return;
      const route: IpRoute = { dst: r.dst, dev: byIndex.get(r.oif)?.ifname ?? String(r.oif), protocol: PROTOCOLS[r.protocol] ?? String(r.protocol) };
      if (r.gateway) route.gateway = r.gateway;
      routes.push(route);
    };
    dumpRoutes(sock, onRoute, (_family, table) => table === RT_TABLE_MAIN);
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
 * socket's namespace that `keep(family, table, type, dst)` keeps (`dst` a view of the first
 * bytes of the destination, before any is formatted: a namespace's local table holds most of its
 * routes, a host's IPv6 ones hundreds of link-local and multicast routes).
 */
function dumpRoutes(sock: NetlinkSocket, onRoute: (r: RawRoute) => void, keep: (family: number, table: number, type: number, dst: DstView) => boolean): void {
  const { at, end } = ROUTE;
  sock.dump(RTM_GETROUTE, Buffer.alloc(12), RTM_NEWROUTE, (b, s, e) => {
    const family = b[s];
    if (family !== AF_INET && family !== AF_INET6) return;
    indexAttributes(b, s + 12, e, at, end);
    const table = at[RTA_TABLE]! >= 0 ? b.readUInt32LE(at[RTA_TABLE]!) : b[s + 4]!;
    const dstAt = at[RTA_DST]!;
    const dstLen = b[s + 1]!;
    if (!keep(family, table, b[s + 7]!, { b, at: dstAt, len: dstLen })) return;
    const [read, full] = family === AF_INET ? [ipv4, 32] : [ipv6, 128];
    const r: RawRoute = { dst: dstAt < 0 ? 'default' : read(b, dstAt) + (dstLen === full ? '' : `/${dstLen}`), table, protocol: b[s + 5]!, type: b[s + 7]! };
    if (at[RTA_OIF]! >= 0) r.oif = b.readUInt32LE(at[RTA_OIF]!);
    if (at[RTA_GATEWAY]! >= 0) r.gateway = read(b, at[RTA_GATEWAY]!);
    onRoute(r);
  });
}

/** A route's destination before it is formatted: its first byte at b[at] (at -1: none, the default route) and its prefix length. */
interface DstView {
  b: Buffer;
  at: number;
  len: number;
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
    sock.dump(RTM_GETLINK, linkRequest(), RTM_NEWLINK, (b, s, e) => {
      const { link } = parseLink(b, s, e);
      if (link.ifname === 'lo') links.push(link);
    });
    return { links, routes: [] };
  });
}

const RTN_LOCAL = 2;
const RTN_BROADCAST = 3;
const RTN_MULTICAST = 5;
const ROUTE_TYPES: Record<number, string> = { 2: 'local', 3: 'broadcast', 4: 'anycast', 5: 'multicast', 6: 'blackhole', 7: 'unreachable', 8: 'prohibit', 9: 'throw', 10: 'nat' };

/**
 * The host's links with their addresses (as dumpHostLinks), and the routes of both families in
 * every table as `ip -j route show table all` lists them (dst, dev, type), from one socket; but
 * for those no subnet can be taken from, which are not even formatted: local and broadcast
 * routes, and IPv6 multicast and link-local ones (a host has three for each link).
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
    dumpRoutes(sock, onRoute, (family, _table, type, dst) => type !== RTN_LOCAL && type !== RTN_BROADCAST && (family !== AF_INET6 || (type !== RTN_MULTICAST && !linkLocal6(dst))));
    return { links, routes };
  });
}

/** An IPv6 destination within fe80::/10. */
const linkLocal6 = (d: DstView) => d.at >= 0 && d.len >= 10 && d.b[d.at] === 0xfe && (d.b[d.at + 1]! & 0xc0) === 0x80;

const NFT_MSG_GETTABLE = (10 << 8) | 1; // NFNL_SUBSYS_NFTABLES
const NFT_MSG_NEWTABLE = (10 << 8) | 0;
const NFTA_TABLE_NAME = 1;
const NFT_TABLE = level(NFTA_TABLE_NAME + 1);
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
      const { at, end } = NFT_TABLE;
      sock.dump(NFT_MSG_GETTABLE, Buffer.alloc(4), NFT_MSG_NEWTABLE, (b, s, e) => {
        if (b[s] !== NFPROTO[family]) return;
        indexAttributes(b, s + 4, e, at, end);
        if (at[NFTA_TABLE_NAME]! >= 0) names.push(cstr(b, at[NFTA_TABLE_NAME]!, end[NFTA_TABLE_NAME]!));
      });
      return names;
    },
    NETLINK_NETFILTER,
  );
}
