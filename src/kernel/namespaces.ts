/**
 * Network and UTS namespaces made, entered and removed in-process (libc through koffi), the
 * way `ip netns add/del` and `unshare --uts=FILE` do it, without a process per namespace.
 */
import { closeSync, constants, mkdirSync, openSync, unlinkSync } from 'node:fs';
import { openOwn } from './ownfs.js';
import { faultPoint, NETNS_FILE_FAULT } from './fault.js';
import { join } from 'node:path';
import { NETNS_DIR } from '../paths.js';
import { CLONE_NEWNET, CLONE_NEWUTS, LibcError, MNT_DETACH, MS_BIND, MS_REC, MS_SHARED, UMOUNT_NOFOLLOW, libc } from '../native/libc.js';

/** fds of the namespaces this thread started in, to come back to after each visit. */
const home: { net?: number; uts?: number; mnt?: number } = {};
/** An fd of the namespace of `kind` this thread started in (opened on the first call, which must come before the thread leaves it). */
export const homeFd = (kind: 'net' | 'uts' | 'mnt') => (home[kind] ??= openSync(`/proc/thread-self/ns/${kind}`, 'r'));

/** Runs `fn` synchronously inside the namespace bound at `path`, then returns to this thread's own. */
function inside<T>(kind: 'net' | 'uts', path: string, fn: () => T): T {
  const back = homeFd(kind);
  const nstype = kind === 'net' ? CLONE_NEWNET : CLONE_NEWUTS;
  const fd = openSync(path, 'r');
  try {
    libc().setns(fd, nstype);
    try {
      return fn();
    } finally {
      libc().setns(back, nstype);
    }
  } finally {
    closeSync(fd);
  }
}

/** Runs `fn` synchronously inside network namespace `ns` (a name under /run/netns); sockets made there stay there. */
export function inNetns<T>(ns: string, fn: () => T): T {
  return inside('net', join(NETNS_DIR, ns), fn);
}

/** Makes a fresh namespace of `kind`, lets `fn` set it up, and binds it on `path` (which must exist). */
function bindNew(kind: 'net' | 'uts', path: string, fn: () => void): void {
  const back = homeFd(kind);
  const nstype = kind === 'net' ? CLONE_NEWNET : CLONE_NEWUTS;
  libc().unshare(nstype);
  try {
    fn();
    libc().mount(`/proc/thread-self/ns/${kind}`, path, 'none', MS_BIND);
  } finally {
    libc().setns(back, nstype);
  }
}

let netnsDirReady = false;

/** As iproute2 does: /run/netns is a shared mount, so a namespace bound there is seen from every mount namespace. */
function prepareNetnsDir(): void {
  if (netnsDirReady) return;
  mkdirSync(NETNS_DIR, { recursive: true, mode: 0o755 });
  try {
    libc().mount('', NETNS_DIR, 'none', MS_SHARED | MS_REC);
  } catch (e) {
    if (!(e instanceof LibcError && e.code === 'EINVAL')) throw e;
    libc().mount(NETNS_DIR, NETNS_DIR, 'none', MS_BIND | MS_REC);
    libc().mount('', NETNS_DIR, 'none', MS_SHARED | MS_REC);
  }
  netnsDirReady = true;
}

/**
 * `ip netns add NAME`; `prepare` runs inside the new namespace before it is bound to its name
 * (to mark it: a namespace is never seen named but unmarked). A run killed before the bind
 * leaves an empty file, which the next run clears (observe.ts).
 */
export function addNetns(ns: string, prepare: () => void = () => undefined): void {
  prepareNetnsDir();
  const path = join(NETNS_DIR, ns);
  closeSync(openSync(path, 'wx', 0));
  faultPoint(NETNS_FILE_FAULT);
  try {
    bindNew('net', path, prepare);
  } catch (e) {
    unlinkSync(path);
    throw e;
  }
}

/**
 * `ip netns del NAME`: the namespace itself goes when its last user does (the kernel's
 * cleanup_net). A file with no namespace bound on it (an interrupted add) is just removed.
 */
export function delNetns(ns: string): void {
  const path = join(NETNS_DIR, ns);
  try {
    libc().umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW);
  } catch (e) {
    if (!(e instanceof LibcError && e.code === 'EINVAL')) throw e;
  }
  unlinkSync(path);
}

/** `unshare --uts=PATH hostname NAME`: a persistent UTS namespace bound on a file. */
export function addUts(path: string, hostname: string): void {
  // The file the namespace is bound on: netlab's own, never a link (the bind would land on its target).
  closeSync(openOwn(path, constants.O_WRONLY | constants.O_CREAT, 0o600));
  bindNew('uts', path, () => libc().sethostname(hostname));
}

export function setUtsHostname(path: string, hostname: string): void {
  inside('uts', path, () => libc().sethostname(hostname));
}

export function readUtsHostname(path: string): string {
  return inside('uts', path, () => libc().gethostname());
}

/** `umount PATH && rm PATH`; absent is fine. */
export function removeUts(path: string): void {
  try {
    libc().umount2(path, MNT_DETACH);
  } catch (e) {
    if (!(e instanceof LibcError && (e.code === 'EINVAL' || e.code === 'ENOENT'))) throw e;
  }
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
