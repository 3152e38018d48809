/**
 * The rtnetlink messages of the link executor (rtnetlink.ts): for each Op the request `ip` would
 * send, as the `netlink` package takes it, or encoded whole by its public encoders.
 */
import { createRequire } from 'node:module';
import { parseIp6 } from '../model/ipv6.js';
import type { LinkRequest } from './coalesce.js';

export type RtSocket = import('netlink').RtNetlinkSocket;

const AF_INET = 2;
const AF_INET6 = 10;
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_LINK = 253;
const RT_SCOPE_NOWHERE = 255;
const RTN_UNICAST = 1;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
// if_link.h
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_NET_NS_FD = 28;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const IFLA_INFO_SLAVE_KIND = 4;
const IFLA_INFO_SLAVE_DATA = 5;
const VETH_INFO_PEER = 1;
const IFLA_BRPORT_MODE = 4;
const IFINFOMSG_LEN = 16;

/** A netlink attribute: length, type, payload, padded to 4 bytes. */
function nla(type: number, ...payload: Buffer[]): Buffer {
  const body = Buffer.concat(payload);
  const out = Buffer.alloc(4 + body.length + ((4 - (body.length % 4)) % 4));
  out.writeUInt16LE(4 + body.length, 0);
  out.writeUInt16LE(type, 2);
  body.copy(out, 4);
  return out;
}
const str = (s: string) => Buffer.from(`${s}\0`);
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const ip4 = (text: string) => Buffer.from(text.split('.').map(Number));
/** The address's bytes and family: 16 bytes for IPv6 (`:` in it), 4 for IPv4. */
const ipBytes = (text: string): { family: number; bytes: Buffer } => {
  if (!text.includes(':')) return { family: AF_INET, bytes: ip4(text) };
  const n = parseIp6(text);
  if (n === undefined) throw new Error(`"${text}" is not an IPv6 address`);
  const bytes = Buffer.alloc(16);
  bytes.writeBigUInt64BE(n >> 64n, 0);
  bytes.writeBigUInt64BE(n & 0xffffffffffffffffn, 8);
  return { family: AF_INET6, bytes };
};
const macBytes = (mac: string) => Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));

/** `A.B.C.D/N`, `default` → address and prefix length. */
function parseDst(dst: string): { addr?: string; len: number } {
  if (dst === 'default') return { len: 0 };
  const [addr, len] = dst.split('/');
  return { addr, len: len === undefined ? (addr!.includes(':') ? 128 : 32) : Number(len) };
}

/** Route keys as the plan writes them: `DST [via GW] dev DEV`. */
function parseRoute(route: string): { dst: string; via?: string; dev: string } {
  const words = route.split(' ');
  const out: { dst: string; via?: string; dev?: string } = { dst: words[0]! };
  for (let i = 1; i < words.length; i += 2) {
    if (words[i] === 'via') out.via = words[i + 1];
    else if (words[i] === 'dev') out.dev = words[i + 1];
    else throw new Error(`route "${route}": "${words[i]}" is not understood by the netlink executor`);
  }
  if (!out.dev) throw new Error(`route "${route}" names no device`);
  return out as { dst: string; via?: string; dev: string };
}

/** IFLA_LINKINFO of a new bridge. */
export const bridgeLinkInfo = () => nla(IFLA_INFO_KIND, str('bridge'));

/** IFLA_LINKINFO of a new veth pair whose peer is made straight inside the namespace open as `nsFd`. */
export function vethLinkInfo(peer: { name: string; mtu: number; mac?: string }, nsFd: number): Buffer {
  const peerAttrs = [nla(IFLA_IFNAME, str(peer.name)), nla(IFLA_MTU, u32(peer.mtu)), nla(IFLA_NET_NS_FD, u32(nsFd))];
  if (peer.mac !== undefined) peerAttrs.push(nla(IFLA_ADDRESS, macBytes(peer.mac)));
  const info = Buffer.concat([Buffer.alloc(IFINFOMSG_LEN), ...peerAttrs]);
  return Buffer.concat([nla(IFLA_INFO_KIND, str('veth')), nla(IFLA_INFO_DATA, nla(VETH_INFO_PEER, info))]);
}

export type PlainOp = Extract<LinkRequest['op'], { kind: 'link.set' | 'addr.add' | 'addr.del' | 'route.replace' | 'route.del' }>;
const PLAIN: string[] = ['link.set', 'addr.add', 'addr.del', 'route.replace', 'route.del'];
export const isPlain = (op: LinkRequest['op']): op is PlainOp => PLAIN.includes(op.kind);

/** The links whose index a request's message names. */
export function namesOf(op: PlainOp): string[] {
  if (op.kind === 'link.set') return op.master === undefined ? [] : [op.master];
  if (op.kind === 'addr.add' || op.kind === 'addr.del') return [op.dev];
  return [parseRoute(op.route).dev];
}

const RTM = { NEWLINK: 16, NEWADDR: 20, DELADDR: 21, NEWROUTE: 24, DELROUTE: 25 };

/** An rtnetlink request as the `netlink` package takes it: message type, the struct and attributes, flags. */
export interface Message {
  type: number;
  kind: 'link' | 'address' | 'route';
  data: object;
  attrs: object;
  flags?: number;
}

/** What `ip` sends for a link setting, an address or a route, given the indexes of the links it names. */
export function plainMessage(op: PlainOp, index: (name: string) => number): Message {
  switch (op.kind) {
    case 'link.set': {
      const attrs: Parameters<RtSocket['newLink']>[1] = { ifname: op.name };
      if (op.alias !== undefined) attrs.ifalias = op.alias;
      if (op.mac !== undefined) attrs.address = macBytes(op.mac);
      if (op.mtu !== undefined) attrs.mtu = op.mtu;
      if (op.master !== undefined) attrs.master = index(op.master);
      if (op.hairpin !== undefined) {
        attrs.linkinfo = Buffer.concat([nla(IFLA_INFO_SLAVE_KIND, str('bridge')), nla(IFLA_INFO_SLAVE_DATA, nla(IFLA_BRPORT_MODE, Buffer.from([op.hairpin ? 1 : 0])))]);
      }
      return { type: RTM.NEWLINK, kind: 'link', data: upFlags(op.up), attrs };
    }
    case 'addr.add':
    case 'addr.del': {
      const [addr, len] = op.cidr.split('/') as [string, string];
      const prefixlen = Number(len);
      const { family, bytes } = ipBytes(addr);
      const attrs: Parameters<RtSocket['newAddress']>[1] = { local: bytes, address: bytes };
      if (op.kind === 'addr.del') return { type: RTM.DELADDR, kind: 'address', data: { family, prefixlen, index: index(op.dev) }, attrs };
      // `ip addr add ... nodad`: usable at once, without a second of duplicate address detection.
      if (family === AF_INET6)
        return { type: RTM.NEWADDR, kind: 'address', data: { family, prefixlen, index: index(op.dev), scope: RT_SCOPE_UNIVERSE, flags: { nodad: true } }, attrs, flags: NLM_F_CREATE | NLM_F_EXCL };
      // `brd +`: all host bits set, for prefixes that have a broadcast address.
      if (prefixlen < 31) attrs.broadcast = u32be((ip4u(addr) | (2 ** (32 - prefixlen) - 1)) >>> 0);
      return { type: RTM.NEWADDR, kind: 'address', data: { family: AF_INET, prefixlen, index: index(op.dev), scope: RT_SCOPE_UNIVERSE }, attrs, flags: NLM_F_CREATE | NLM_F_EXCL };
    }
    case 'route.replace':
    case 'route.del': {
      const r = parseRoute(op.route);
      const dst = parseDst(r.dst);
      const attrs: Parameters<RtSocket['newRoute']>[1] = { oif: index(r.dev) };
      // The family of the route is its destination's, or its gateway's for `default`.
      const family = (dst.addr ?? r.via ?? '').includes(':') ? AF_INET6 : AF_INET;
      if (dst.addr) attrs.dst = ipBytes(dst.addr).bytes;
      if (r.via) attrs.gateway = ipBytes(r.via).bytes;
      if (op.kind === 'route.del') return { type: RTM.DELROUTE, kind: 'route', data: { family, dstLen: dst.len, table: RT_TABLE_MAIN, scope: RT_SCOPE_NOWHERE }, attrs };
      const data = { family, dstLen: dst.len, table: RT_TABLE_MAIN, protocol: RTPROT_BOOT, scope: r.via ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK, type: RTN_UNICAST };
      return { type: RTM.NEWROUTE, kind: 'route', data, attrs, flags: NLM_F_CREATE | NLM_F_REPLACE };
    }
  }
}

type Codec = Pick<typeof import('netlink'), 'AttrStream' | 'formatMessage' | 'rt'>;
let codec: Codec | undefined;
/** The package's public encoders (its index), loaded with the package on the first change. */
function encoders(): Codec {
  return (codec ??= createRequire(import.meta.url)('netlink') as Codec);
}

/** The message's payload (struct and attributes), encoded by the `netlink` package. */
export function payload(m: Message): Buffer[] {
  const { AttrStream, rt } = encoders();
  const out = new AttrStream();
  if (m.kind === 'link') rt.formatLinkMessage({ kind: 'link', data: m.data, attrs: m.attrs } as import('netlink').rt.LinkMessage, out);
  else if (m.kind === 'address') rt.formatAddressMessage({ kind: 'address', data: m.data, attrs: m.attrs } as import('netlink').rt.AddressMessage, out);
  else rt.formatRouteMessage({ kind: 'route', data: m.data, attrs: m.attrs } as import('netlink').rt.RouteMessage, out);
  return out.bufs as Buffer[];
}

/** The whole netlink message, asking for an answer, with sequence number `seq`; padded to 4 bytes, so that another can follow it. */
export function encode(m: Message, seq: number): Buffer {
  const parts = encoders().formatMessage({ type: m.type, flags: (m.flags ?? 0) | NLM_F_REQUEST | NLM_F_ACK, seq, port: 0, data: payload(m) });
  const length = parts.reduce((n, b) => n + b.length, 0);
  return Buffer.concat([...parts, Buffer.alloc((4 - (length % 4)) % 4)]);
}

/** The ifinfomsg that sets a link up, or changes nothing of its flags. */
export const upFlags = (up: boolean | undefined) => (up ? { flags: { up: true as const }, change: { up: true as const } } : {});

const ip4u = (text: string) => ip4(text).readUInt32BE(0);
const u32be = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
