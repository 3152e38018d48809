/**
 * Containers' mount namespaces made in-process (libc), for the netlink backend: what the script
 * of model/mounts.ts does with `unshare` and `mount --all`, without a process per container.
 * Each is a copy of one template per run: the host's mounts, private, without the copies of
 * namespace files (/run/netns, the labs' namespaces) that would keep those namespaces alive.
 * Copying the template, not the host, keeps a container's cost flat: the host's table grows
 * with every container that is up.
 */
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { KernelError } from '../errors.js';
import { CLONE_NEWNET, CLONE_NEWNS, LibcError, MNT_DETACH, MS_BIND, MS_PRIVATE, MS_REC, MS_REMOUNT, libc } from '../native/libc.js';
import { NETNS_DIR, RUN_DIR } from '../paths.js';
import { type FstabMount, parseFstab } from './fstab.js';
import { mntAddArgv, mountsUnder, removeMnt, specFileOf } from './mnt.js';
import { unshareBindable } from './mntorder.js';
import { homeFd, removeUts } from './namespaces.js';
import { ownDir, writeOwnAsync } from './ownfs.js';

/** O_PATH: an fd that names a file (a volume's source) without opening it for reading. */
const O_PATH = 0o10000000;
/** The script binds a volume from /proc/self/fd/N, N = 10 + its index in the container's volume list. */
const VOLUME_FD = /^\/proc\/self\/fd\/(\d+)$/;
const FIRST_VOLUME_FD = 10;

export interface MntToMake {
  path: string;
  /** The container's network namespace (its name under /run/netns): its /sys shows that namespace. */
  ns: string;
  fstab: string;
  /** The volumes' host paths, in the order of the fstab's fds. */
  volumes: string[];
  hash: string;
  /** The script that makes the same namespace, for the error message. */
  script: string[];
}

/** Makes each namespace and binds it on its file; a failure removes that one's files and stops there. */
export async function addMntsInProcess(list: MntToMake[]): Promise<void> {
  if (list.length === 0) return;
  const dirs = new Set(list.map((m) => dirname(m.path)));
  for (const dir of dirs) bindPrivate(dir);
  // Each namespace's file and the hash beside it, made side by side on libuv's threads (a file made here takes a few tenths of a millisecond).
  await Promise.all(list.map((m) => Promise.all([writeOwnAsync(m.path, '', 0o600), writeOwnAsync(specFileOf(m.path), `${m.hash}\n`)])));
  const template = makeTemplate(dirs);
  const binderId = libc().mntNsId(homeFd('mnt'));
  try {
    for (const [i, m] of list.entries()) {
      try {
        await addOne(template, m, binderId);
      } catch (e) {
        for (const rest of list.slice(i + 1)) await removeMnt(rest.path, async (p) => removeUts(p));
        throw e;
      }
      await nextTurn();
    }
  } finally {
    closeSync(template);
  }
}

/**
 * The hash is written before the namespace is made: the observer reads the hash of a namespace
 * file only where a namespace is bound on it, and a failure removes both.
 */
async function addOne(template: number, m: MntToMake, binderId: bigint | undefined): Promise<void> {
  try {
    bindCopy(template, m, binderId);
  } catch (e) {
    await removeMnt(m.path, async (p) => removeUts(p));
    throw new KernelError(`the mount namespace ${m.path} of ${m.ns}: ${(e as Error).message}`, `${mntAddArgv(m.path, m.ns).join(' ')} <<'EOF'\n${m.script.join('\n')}\nEOF`);
  }
}

/** The folder of the namespace files bound on itself, private: the kernel binds a mount namespace only on a mount that is not shared. */
function bindPrivate(dir: string): void {
  ownDir(dir);
  if (mountsUnder(dir).includes(dir)) return;
  libc().mount(dir, dir, 'none', MS_BIND);
  libc().mount('', dir, 'none', MS_PRIVATE);
}

/** A copy of the host's mounts, all private, without namespace files (nor `dirs`, where the new ones are bound: the kernel refuses a namespace that holds its own file's folder); an fd that keeps it. */
function makeTemplate(dirs: Set<string>): number {
  const host = homeFd('mnt');
  libc().unshare(CLONE_NEWNS);
  try {
    libc().mount('', '/', 'none', MS_REC | MS_PRIVATE);
    for (const target of namespaceHolders(readFileSync('/proc/thread-self/mountinfo', 'utf8'), dirs)) {
      try {
        libc().umount2(target, MNT_DETACH);
      } catch (e) {
        // Gone with a folder above it, dropped before it.
        if (!(e instanceof LibcError && (e.code === 'EINVAL' || e.code === 'ENOENT'))) throw e;
      }
    }
    return openSync('/proc/thread-self/ns/mnt', 'r');
  } finally {
    libc().setns(host, CLONE_NEWNS);
  }
}

/**
 * The mounts that hold namespaces: /run/netns, the labs' mount namespace folders and every other
 * namespace file (the script drops /run wholesale where it is a mount; here the rest of /run
 * stays, hidden by the container's own, so a volume from under /run can still be bound).
 */
export function namespaceHolders(mountinfo: string, dirs: Set<string> = new Set()): string[] {
  const labMnt = (target: string) => basename(target) === 'mnt' && dirname(dirname(target)) === RUN_DIR;
  const holders = mountinfo
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const f = line.split(' ');
      return { target: f[4]!.replace(/\\040/g, ' '), fstype: f[f.indexOf('-') + 1] ?? '' };
    })
    .filter(({ target, fstype }) => target === NETNS_DIR || labMnt(target) || dirs.has(target) || fstype === 'nsfs')
    .map(({ target }) => target);
  return [...new Set(holders)].sort((a, b) => a.length - b.length);
}

/** Enters a fresh copy of the template, makes the container's mounts there, and binds that namespace on its file. */
function bindCopy(template: number, m: MntToMake, binderId: bigint | undefined): void {
  const host = homeFd('mnt');
  const net = openSync(join(NETNS_DIR, m.ns), 'r');
  const volumes: number[] = [];
  let own: number | undefined;
  try {
    try {
      own = unshareBindable(template, binderId);
      // Opened here, before a tmpfs hides them: the kernel binds only a mount of the caller's own namespace.
      for (const v of m.volumes) volumes.push(openSync(v, O_PATH));
      mountAll(parseFstab(m.fstab), net, volumes);
    } finally {
      libc().setns(host, CLONE_NEWNS);
    }
    libc().mount(`/proc/self/fd/${own}`, m.path, 'none', MS_BIND);
  } finally {
    for (const fd of [net, ...volumes, ...(own === undefined ? [] : [own])]) closeSync(fd);
  }
}

/** `mount --all` of the fstab, in order, then its file lines (/etc files, file volumes: a file's mount point, or a symlink's target, may have to be made in a new tmpfs first). */
function mountAll(mounts: FstabMount[], net: number, volumes: number[]): void {
  for (const m of mounts.filter((x) => !x.etc)) {
    if (m.mkdir) mkdirSync(m.target, { recursive: true, mode: 0o755 });
    if (m.fstype === 'sysfs') inNet(net, () => libc().mount(m.source, m.target, m.fstype, m.flags, m.data || undefined));
    else if (m.bind) bind(volumeSource(m.source, volumes), m.target, m.flags);
    else libc().mount(m.source, m.target, m.fstype, m.flags, m.data || undefined);
  }
  for (const m of mounts.filter((x) => x.etc)) {
    makeLinkTarget(m.target);
    bind(volumeSource(m.source, volumes), m.target, m.flags);
  }
}

function inNet(net: number, fn: () => void): void {
  const back = homeFd('net');
  libc().setns(net, CLONE_NEWNET);
  try {
    fn();
  } finally {
    libc().setns(back, CLONE_NEWNET);
  }
}

/** A volume's source as the script names it (an fd it opened) becomes the fd opened here. */
function volumeSource(source: string, volumes: number[]): string {
  const n = VOLUME_FD.exec(source);
  const fd = n ? volumes[Number(n[1]) - FIRST_VOLUME_FD] : undefined;
  return fd === undefined ? source : `/proc/self/fd/${fd}`;
}

/** A bind, then its flags (`ro`) by a remount, as mount(8) does: a bind takes none of them itself. */
function bind(source: string, target: string, flags: number): void {
  libc().mount(source, target, 'none', MS_BIND);
  if (flags !== 0) libc().mount('', target, 'none', MS_REMOUNT | MS_BIND | flags);
}

/** Where a file's mount point is missing, or a symlink whose target is missing (into the new /run): an empty file there to bind on. */
function makeLinkTarget(path: string): void {
  if (existsSync(path)) return;
  const target = resolveMissing(path);
  mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
  closeSync(openSync(target, 'a', 0o644));
}

/** `readlink -m`: the path with every symlink followed, where parts of it need not exist. */
function resolveMissing(path: string, hops = 0): string {
  try {
    return realpathSync(path);
  } catch {
    if (hops > 40) return path;
    let link: string | undefined;
    try {
      if (lstatSync(path).isSymbolicLink()) link = readlinkSync(path);
    } catch {
      // Not there: its folder is resolved below.
    }
    if (link !== undefined) return resolveMissing(resolve(dirname(path), link), hops + 1);
    return join(resolveMissing(dirname(path), hops + 1), basename(path));
  }
}
