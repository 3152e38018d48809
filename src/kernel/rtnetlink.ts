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
import { bridgeLinkInfo, encode, isPlain, namesOf, NLM_F_CREATE, NLM_F_EXCL, payload, plainMessage, upFlags, vethLinkInfo, type RtSocket } from './rtmessages.js';

type NetlinkModule = Pick<typeof import('netlink'), 'createRtNetlink'>;

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
          s.newLink({}, { ifname: op.name, mtu: op.mtu, ...(op.group === undefined ? {} : { group: op.group }), linkinfo: bridgeLinkInfo() }, this.sendOptions(NLM_F_CREATE | NLM_F_EXCL)),
        );
      case 'veth.add': {
        const master = op.master === undefined ? undefined : await this.indexOf(op.master);
        const data = upFlags(op.up);
        return this.submit(req, () => {
          // The peer is created straight inside its namespace, named by an fd of it.
          const fd = openSync(join(NETNS_DIR, op.peer.ns), 'r');
          const linkinfo = vethLinkInfo({ name: op.peer.name, mtu: op.mtu, mac: op.peerMac }, fd);
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

/** The error of a failed request, named by the commands of its Ops (the renderer is loaded only then). */
async function kernelError(req: LinkRequest, message: string): Promise<KernelError> {
  const { renderOp } = await import('../plan/render.js');
  const what = req.from.map(renderOp).join(' && ');
  return new KernelError(`${what}: ${message}`, what);
}

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
