/**
 * The two ways netlab talks to the kernel's links, addresses, routes and namespaces:
 * `iproute2` (the `ip`, `unshare`, `nsenter` and `umount` programs) and `netlink` (rtnetlink
 * and libc in-process, the default). Both take the same Ops and must leave the same state.
 */
import { InputError, KernelError } from '../errors.js';
import { log } from '../log.js';
import type { LinkOp } from '../plan/ops.js';
import type { IpLink, IpRoute, NamespaceView } from './linkview.js';
import { addUts, readUtsHostname, removeUts, setUtsHostname } from './namespaces.js';
import { dumpHostLinks, dumpLoopback, dumpNamespace } from './nldump.js';
import { libc } from '../native/libc.js';
import { createRequire } from 'node:module';
import { kernelHasIpv6 } from './host.js';
import { mapLimit, run } from './run.js';
import * as utsTools from './uts.js';
import { ifErrno } from './errno.js';

export const BACKENDS = ['netlink', 'iproute2'] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface KernelBackend {
  name: BackendName;
  applyLinks(ops: LinkOp[]): Promise<void>;
  /** Every link of the host's namespace with its IPv4 addresses. */
  readHost(): Promise<IpLink[]>;
  /**
   * Links and routes of each namespace; a namespace that cannot be read is left out. Of a
   * namespace for which `whole` says no, only `lo` (its mark) is needed, and may be all that is read.
   */
  readNamespaces(names: string[], whole?: (ns: string) => boolean): Promise<Map<string, NamespaceView>>;
  /** Creates the UTS namespace bound on `path`, or renames the one that is there. */
  setUts(path: string, hostname: string, mounted: boolean): Promise<void>;
  readUts(path: string): Promise<string | undefined>;
  removeUts(path: string): Promise<void>;
  /** Unbinds the namespace bound on `path` (a UTS or a mount namespace) and removes the file; absent is fine. */
  removeNsFile(path: string): Promise<void>;
  /** Mount namespaces are made in-process (mntns.ts), not by a script per container. */
  mntInProcess?: boolean;
  /** UTS namespaces are made in-process (libc), so another thread may make them (beside.ts). */
  utsInProcess?: boolean;
  /** readHost() is the in-process dump (nldump.ts): a caller that has just made that dump may hand it to the observer instead. */
  hostInProcess?: boolean;
}

/** Prints `<path> <value>` for every interface's disable_ipv6, with shell builtins only (a read of a /proc/sys file reports failure but fills `v`). */
const READ_DISABLE_IPV6 = 'for f in /proc/sys/net/ipv6/conf/*/disable_ipv6; do read -r v < "$f"; echo "$f $v"; done';

// The executors load when there is something to apply: a run that changes nothing only reads.
const applyWithIproute2 = async (ops: LinkOp[]) => (await import('./iproute2.js')).applyWithIproute2(ops);

const iproute2: KernelBackend = {
  name: 'iproute2',
  applyLinks: (ops) => applyWithIproute2(ops),
  readHost: async () => JSON.parse((await run('ip', ['-j', '-d', 'addr', 'show'])).stdout) as IpLink[],
  async readNamespaces(names, whole = () => true) {
    const out = new Map<string, NamespaceView>();
    const ipv6 = kernelHasIpv6();
    await mapLimit(names, 8, async (ns) => {
      const all = whole(ns);
      const input = all ? 'addr show\nroute show\n' : 'link show dev lo\n';
      // `ip` shows no interface's disable_ipv6: a shell inside the namespace reads them after it.
      const r =
        all && ipv6
          ? await run('ip', ['netns', 'exec', ns, 'sh', '-c', `ip -j -d -batch - && ip -j -d -6 route show && ${READ_DISABLE_IPV6}`], { input, allowFail: true })
          : await run('ip', ['-n', ns, '-j', '-d', '-batch', '-'], { input, allowFail: true });
      if (r.exitCode !== 0) return;
      // With IPv6, its routes (`ip -6 route`, apart: a batch line takes no family) follow the IPv4 ones.
      const [linksLine, routesLine, ...rest] = r.stdout.trim().split('\n');
      const routes6 = all && ipv6 ? (JSON.parse(rest.shift()!) as IpRoute[]) : [];
      const sysctls = rest;
      const links = JSON.parse(linksLine!) as IpLink[];
      for (const line of sysctls) {
        const [, ifname, value] = /^\/proc\/sys\/net\/ipv6\/conf\/([^/]+)\/disable_ipv6 (\d+)$/.exec(line) ?? [];
        const link = links.find((l) => l.ifname === ifname);
        if (link) link.ipv6_disabled = value !== '0';
      }
      out.set(ns, { links, routes: all ? [...(JSON.parse(routesLine!) as IpRoute[]), ...routes6] : [] });
    });
    return out;
  },
  setUts: (path, hostname, mounted) => utsTools.ensureUts(path, hostname, mounted),
  readUts: (path) => utsTools.readUtsHostname(path),
  removeUts: (path) => utsTools.removeUts(path),
  removeNsFile: (path) => utsTools.removeUts(path),
};

/** Applies with the netlink package, or, when it cannot be loaded and was not asked for by name, with iproute2. */
async function netlinkOrIproute2(ops: LinkOp[], strict: boolean): Promise<void> {
  const { applyWithNetlink, loadNetlink } = await import('./rtnetlink.js');
  try {
    loadNetlink();
  } catch (e) {
    if (strict) throw new KernelError(`the netlink backend cannot be loaded here: ${(e as Error).message}`);
    log().info({ reason: (e as Error).message.split('\n')[0] }, 'netlink backend unavailable, using iproute2');
    return applyWithIproute2(ops);
  }
  return applyWithNetlink(ops);
}

/** VXLAN devices and FDB entries are left to iproute2, a whole batch at a time so that order holds. */
const applyNetlinkLinks = (ops: LinkOp[], strict: boolean) => (ops.some((o) => o.kind.startsWith('vxlan.') || o.kind.startsWith('fdb.')) ? applyWithIproute2(ops) : netlinkOrIproute2(ops, strict));

const netlink: KernelBackend = {
  name: 'netlink',
  applyLinks: (ops) => applyNetlinkLinks(ops, false),
  // Reads are synchronous dumps through libc (nldump.ts): a namespace costs a few system calls.
  readHost: async () => dumpHostLinks(),
  hostInProcess: true,
  async readNamespaces(names, whole = () => true) {
    const out = new Map<string, NamespaceView>();
    for (const ns of names) {
      const view = whole(ns) ? dumpNamespace(ns) : dumpLoopback(ns); // undefined: gone, or not a namespace
      if (view) out.set(ns, view);
    }
    return out;
  },
  setUts: async (path, hostname, mounted) => wrap(`hostname ${hostname} in ${path}`, () => (mounted ? setUtsHostname(path, hostname) : addUts(path, hostname))),
  readUts: async (path) => {
    try {
      return readUtsHostname(path);
    } catch (e) {
      // No file there, or a file that is not a UTS namespace.
      return ifErrno(e, ['ENOENT', 'EINVAL'], undefined);
    }
  },
  removeUts: async (path) => wrap(`umount ${path}`, () => removeUts(path)),
  // In-process: a `down` of N containers spawned N umount processes for their mount namespaces.
  removeNsFile: async (path) => wrap(`umount ${path}`, () => removeUts(path)),
  utsInProcess: true,
  mntInProcess: true,
};

/** The netlink backend asked for by name: it never falls back. */
const netlinkStrict: KernelBackend = {
  ...netlink,
  applyLinks: (ops) => applyNetlinkLinks(ops, true),
};

function wrap(what: string, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    throw new KernelError(`${what}: ${(e as Error).message}`, what);
  }
}

/**
 * The backend asked for (an option, else NETLAB_BACKEND, else netlink). netlink falls back to
 * iproute2, with a log line, when it was not asked for by name and cannot be loaded here.
 */
export function selectBackend(requested?: string): KernelBackend {
  const fromEnv = process.env.NETLAB_BACKEND || undefined;
  const name = requested ?? fromEnv;
  if (name !== undefined && !BACKENDS.includes(name as BackendName)) {
    throw new InputError([{ path: requested !== undefined ? '--backend' : 'NETLAB_BACKEND', message: `"${name}" is not a backend (choose ${BACKENDS.join(' or ')})` }]);
  }
  if (name === 'iproute2') return iproute2;
  try {
    // Reading needs only libc (nldump.ts); the `netlink` package (a native module, slow to
    // load) is loaded when there is something to apply, and a run that changes nothing never
    // pays for it. Here it is only found; if it then fails to load, the change goes through
    // iproute2 instead (netlinkOrIproute2).
    libc();
    createRequire(import.meta.url).resolve('netlink');
    return name === 'netlink' ? netlinkStrict : netlink;
  } catch (e) {
    if (name === 'netlink') throw new KernelError(`the netlink backend cannot be loaded here: ${(e as Error).message}`);
    log().info({ reason: (e as Error).message.split('\n')[0] }, 'netlink backend unavailable, using iproute2');
    return iproute2;
  }
}
