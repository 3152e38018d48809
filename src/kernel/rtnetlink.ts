/**
 * The in-process link executor and reader: rtnetlink spoken through the `netlink` package, one
 * socket per namespace (made inside it with setns, see namespaces.ts). Each Op becomes the
 * request `ip` would send for it, or shares one with its neighbours (coalesce.ts); both
 * executors leave the same kernel state (the differential test in backends.test.ts).
 *
 * Requests on a socket are sent in order without waiting for each answer: the kernel handles
 * rtnetlink requests one by one inside sendmsg, so order is kept, and up to WINDOW answers
 * are outstanding (bounded so that the acknowledgements never overflow the socket's buffer).
 * A namespace whose requests make and remove no link (a new container's) gets them all in one
 * send on a plain socket, encoded by the package (applyInNamespace).
 */
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { NETNS_DIR } from '../paths.js';
import type { LinkOp } from '../plan/ops.js';
import { KernelError } from '../errors.js';
import { log } from '../log.js';
import { libc } from '../native/libc.js';
import { addNetns, delNetns, inNetns } from './namespaces.js';
import { mapLimit } from './run.js';
import { sysctlPath } from './host.js';
import { NetlinkSocket } from '../native/netlink.js';
import { getSystemErrorName } from 'node:util';
import { coalesceLinkOps, type LinkRequest } from './coalesce.js';
import { parseIp6 } from '../model/ipv6.js';

type NetlinkModule = Pick<typeof import('netlink'), 'createRtNetlink'>;
type RtSocket = import('netlink').RtNetlinkSocket;

let netlinkModule: NetlinkModule | undefined;

/**
 * The `netlink` package (through its public index only) and libc, or an Error saying why they
 * cannot be loaded.
 */
export function loadNetlink(): NetlinkModule {
  netlinkModule ??= createRequire(import.meta.url)('netlink') as NetlinkModule;
  libc();
  return netlinkModule;
}

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
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
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

type PlainOp = Extract<LinkRequest['op'], { kind: 'link.set' | 'addr.add' | 'addr.del' | 'route.replace' | 'route.del' }>;
const PLAIN: string[] = ['link.set', 'addr.add', 'addr.del', 'route.replace', 'route.del'];
const isPlain = (op: LinkRequest['op']): op is PlainOp => PLAIN.includes(op.kind);

/** The links whose index a request's message names. */
function namesOf(op: PlainOp): string[] {
  if (op.kind === 'link.set') return op.master === undefined ? [] : [op.master];
  if (op.kind === 'addr.add' || op.kind === 'addr.del') return [op.dev];
  return [parseRoute(op.route).dev];
}

const RTM = { NEWLINK: 16, NEWADDR: 20, DELADDR: 21, NEWROUTE: 24, DELROUTE: 25 };

/** An rtnetlink request as the `netlink` package takes it: message type, the struct and attributes, flags. */
interface Message {
  type: number;
  kind: 'link' | 'address' | 'route';
  data: object;
  attrs: object;
  flags?: number;
}

/** What `ip` sends for a link setting, an address or a route, given the indexes of the links it names. */
function plainMessage(op: PlainOp, index: (name: string) => number): Message {
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
function payload(m: Message): Buffer[] {
  const { AttrStream, rt } = encoders();
  const out = new AttrStream();
  if (m.kind === 'link') rt.formatLinkMessage({ kind: 'link', data: m.data, attrs: m.attrs } as import('netlink').rt.LinkMessage, out);
  else if (m.kind === 'address') rt.formatAddressMessage({ kind: 'address', data: m.data, attrs: m.attrs } as import('netlink').rt.AddressMessage, out);
  else rt.formatRouteMessage({ kind: 'route', data: m.data, attrs: m.attrs } as import('netlink').rt.RouteMessage, out);
  return out.bufs as Buffer[];
}

/** The whole netlink message, asking for an answer, with sequence number `seq`; padded to 4 bytes, so that another can follow it. */
function encode(m: Message, seq: number): Buffer {
  const parts = encoders().formatMessage({ type: m.type, flags: (m.flags ?? 0) | NLM_F_REQUEST | NLM_F_ACK, seq, port: 0, data: payload(m) });
  const length = parts.reduce((n, b) => n + b.length, 0);
  return Buffer.concat([...parts, Buffer.alloc((4 - (length % 4)) % 4)]);
}

const WINDOW = 48;

/** One rtnetlink socket in one namespace, with requests pipelined in order. */
export class Rtnl {
  readonly socket: RtSocket;
  private inFlight = 0;
  private queue: (() => void)[] = [];
  private idle: (() => void)[] = [];
  /** The first request that failed, and the kernel's answer. */
  private failure: { req: LinkRequest; message: string } | undefined;
  private readonly indexes = new Map<string, number>();

  constructor(readonly ns?: string) {
    const { createRtNetlink } = loadNetlink();
    const open = () => createRtNetlink();
    this.socket = ns === undefined ? open() : inNetns(ns, open);
  }

  close(): void {
    this.socket.socket.close();
  }

  /** The socket's own address, asked once: the package asks the kernel (getsockname) for every message it is not given. */
  private port: number | undefined;

  /** Options of a request: its flags, and the socket's address. */
  private sendOptions(flags?: number): { flags?: number; localPort: number } {
    this.port ??= this.socket.socket.address().port;
    return flags === undefined ? { localPort: this.port } : { flags, localPort: this.port };
  }

  /** Sends a request once a slot in the window is free, in the order of the calls. */
  submit(req: LinkRequest, request: () => Promise<unknown>): void {
    const start = () => {
      // Like `ip -batch`, nothing more is sent after a failure (what was already sent stands).
      if (this.failure) return this.done();
      this.inFlight++;
      request()
        .catch((e: Error) => {
          this.failure ??= { req, message: e.message.replace(/^Request rejected: /, '') };
        })
        .finally(() => {
          this.inFlight--;
          this.done();
        });
    };
    if (this.inFlight < WINDOW && this.queue.length === 0) start();
    else this.queue.push(start);
  }

  private done(): void {
    const next = this.queue.shift();
    if (next) next();
    else if (this.inFlight === 0) for (const w of this.idle.splice(0)) w();
  }

  /** Waits for every request sent so far; throws the first failure. */
  async flush(): Promise<void> {
    if (this.inFlight > 0 || this.queue.length > 0) await new Promise<void>((r) => this.idle.push(r));
    if (this.failure) throw await kernelError(this.failure.req, this.failure.message);
  }

  /** The index of a link in this socket's namespace (asks the kernel after everything sent so far is done). */
  async indexOf(name: string): Promise<number> {
    const known = this.indexes.get(name);
    if (known !== undefined) return known;
    await this.flush();
    const index = this.ns === undefined ? libc().ifNameToIndex(name) : inNetns(this.ns, () => libc().ifNameToIndex(name));
    this.indexes.set(name, index);
    return index;
  }

  forget(name: string): void {
    this.indexes.delete(name);
  }

  /** Sends the request for `req`: what `ip` sends for its Op, or for several Ops at once (coalesce.ts). */
  async apply(req: LinkRequest): Promise<void> {
    const s = this.socket;
    const op = req.op;
    switch (op.kind) {
      case 'bridge.add':
        return this.submit(req, () =>
          s.newLink(
            {},
            { ifname: op.name, mtu: op.mtu, ...(op.group === undefined ? {} : { group: op.group }), linkinfo: nla(IFLA_INFO_KIND, str('bridge')) },
            this.sendOptions(NLM_F_CREATE | NLM_F_EXCL),
          ),
        );
      case 'veth.add': {
        const master = op.master === undefined ? undefined : await this.indexOf(op.master);
        const data = upFlags(op.up);
        return this.submit(req, () => {
          // The peer is created straight inside its namespace, named by an fd of it.
          const fd = openSync(join(NETNS_DIR, op.peer.ns), 'r');
          const peerAttrs = [nla(IFLA_IFNAME, str(op.peer.name)), nla(IFLA_MTU, u32(op.mtu)), nla(IFLA_NET_NS_FD, u32(fd))];
          if (op.peerMac !== undefined) peerAttrs.push(nla(IFLA_ADDRESS, macBytes(op.peerMac)));
          const peer = Buffer.concat([Buffer.alloc(IFINFOMSG_LEN), ...peerAttrs]);
          const linkinfo = Buffer.concat([nla(IFLA_INFO_KIND, str('veth')), nla(IFLA_INFO_DATA, nla(VETH_INFO_PEER, peer))]);
          // Kept open until the answer: the request may wait in the socket's queue before sendmsg.
          const attrs: Parameters<RtSocket['newLink']>[1] = { ifname: op.name, mtu: op.mtu, linkinfo };
          if (master !== undefined) attrs.master = master;
          if (op.group !== undefined) attrs.group = op.group;
          return s.newLink(data, attrs, this.sendOptions(NLM_F_CREATE | NLM_F_EXCL)).finally(() => closeSync(fd));
        });
      }
      case 'link.del':
        this.forget(op.name);
        return this.submit(req, () => s.delLink({}, { ifname: op.name }, this.sendOptions()));
      case 'link.set':
      case 'addr.add':
      case 'addr.del':
      case 'route.replace':
      case 'route.del': {
        for (const name of namesOf(op)) await this.indexOf(name);
        const m = plainMessage(op, (name) => this.indexes.get(name)!);
        return this.submit(req, () => s.request(m.type, payload(m), this.sendOptions(m.flags)));
      }
      case 'netns.add':
      case 'netns.del':
        // Synchronous, in-process: everything sent before must be done first.
        await this.flush();
        try {
          if (op.kind === 'netns.add') addNetns(op.ns, op.mark === undefined ? undefined : () => markLoopback(op.mark!));
          else delNetns(op.ns);
        } catch (e) {
          throw await kernelError(req, (e as Error).message);
        }
        return;
      case 'netns.sysctl':
        // What `ip netns exec NS sysctl -w` does: /proc/sys/net is that of the writer's namespace.
        try {
          inNetns(op.ns, () => writeFileSync(sysctlPath(op.key), op.value));
        } catch (e) {
          throw await kernelError(req, (e as Error).message);
        }
        return;
    }
  }
}

/** The ifinfomsg that sets a link up, or changes nothing of its flags. */
const upFlags = (up: boolean | undefined) => (up ? { flags: { up: true as const }, change: { up: true as const } } : {});

/** The error of a failed request, named by the commands of its Ops (the renderer is loaded only then). */
async function kernelError(req: LinkRequest, message: string): Promise<KernelError> {
  const { renderOp } = await import('../plan/render.js');
  const what = req.from.map(renderOp).join(' && ');
  return new KernelError(`${what}: ${message}`, what);
}

const ip4u = (text: string) => ip4(text).readUInt32BE(0);
const u32be = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/**
 * The netlink link executor: host Ops in order on one socket, then every namespace's Ops on
 * its own socket, several namespaces at a time (one after the other when sent at once).
 */
export async function applyWithNetlink(ops: LinkOp[], concurrency = 16): Promise<void> {
  const host: LinkRequest[] = [];
  const perNs = new Map<string, LinkRequest[]>();
  for (const req of coalesceLinkOps(ops)) {
    const op = req.op;
    const ns = 'ns' in op && op.kind !== 'netns.add' && op.kind !== 'netns.del' ? op.ns : undefined;
    if (ns === undefined) host.push(req);
    else {
      const list = perNs.get(ns);
      if (list) list.push(req);
      else perNs.set(ns, [req]);
    }
  }
  const started = performance.now();
  if (host.length > 0) await onSocket(undefined, host);
  const hostDone = performance.now();
  await mapLimit([...perNs], concurrency, ([ns, list]) => onSocket(ns, list));
  const ms = (a: number, b: number) => Math.round(b - a);
  log().debug(
    {
      ops: ops.length,
      requests: host.length + [...perNs.values()].reduce((n, l) => n + l.length, 0),
      hostRequests: host.length,
      hostMs: ms(started, hostDone),
      namespaces: perNs.size,
      namespaceMs: ms(hostDone, performance.now()),
    },
    'netlink',
  );
}

async function onSocket(ns: string | undefined, requests: LinkRequest[]): Promise<void> {
  if (ns !== undefined && requests.every((r) => isPlain(r.op) || r.op.kind === 'netns.sysctl')) return applyInNamespace(ns, requests);
  const nl = new Rtnl(ns);
  try {
    for (const req of requests) await nl.apply(req);
    await nl.flush();
  } finally {
    nl.close();
  }
}

/**
 * A namespace's requests when they make and remove no link (a new container's: lo and eth0
 * settings, its address and routes, sysctls), as `nlfloor` sends them: one visit to the
 * namespace, the sysctls first (they only turn a feature of a link off before it is up), every
 * message in one send on a plain socket (native/netlink.ts), the answers read at once. The package still
 * encodes each message; its socket would cost event-loop turns and a native handle per namespace.
 * The kernel handles every message of the send even after one fails, as it handles the messages
 * already sent on a pipelined socket.
 */
async function applyInNamespace(ns: string, requests: LinkRequest[]): Promise<void> {
  const failed = inNetns(ns, (): { req: LinkRequest; message: string } | undefined => {
    const indexes = new Map<string, number>();
    const index = (name: string) => {
      let i = indexes.get(name);
      if (i === undefined) indexes.set(name, (i = libc().ifNameToIndex(name)));
      return i;
    };
    const sent: LinkRequest[] = [];
    const messages: Buffer[] = [];
    for (const req of requests) {
      try {
        if (req.op.kind === 'netns.sysctl') writeFileSync(sysctlPath(req.op.key), req.op.value);
        else if (isPlain(req.op)) messages.push(encode(plainMessage(req.op, index), sent.push(req)));
      } catch (e) {
        return { req, message: (e as Error).message };
      }
    }
    const sock = NetlinkSocket.open();
    let errnos: number[];
    try {
      errnos = sock.requestAll(messages);
    } finally {
      sock.close();
    }
    const i = errnos.findIndex((e) => e !== 0);
    return i < 0 ? undefined : { req: sent[i]!, message: errnoName(errnos[i]!) };
  });
  if (failed) throw await kernelError(failed.req, failed.message);
}

/** Sets the alias of `lo` in this thread's namespace (a fresh one, before it is bound to its name). */
function markLoopback(mark: string): void {
  const sock = NetlinkSocket.open();
  let errno: number | undefined;
  try {
    [errno] = sock.requestAll([
      encode(
        plainMessage({ kind: 'link.set', name: 'lo', alias: mark }, () => 0),
        1,
      ),
    ]);
  } finally {
    sock.close();
  }
  if (errno) throw new Error(`lo alias ${mark}: ${errnoName(errno)}`);
}

/** What the package reports for a failed request: the errno's name (EEXIST). */
function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}
