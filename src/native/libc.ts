/**
 * Every call netlab makes into C, through one koffi binding of libc: entering namespaces (setns,
 * unshare), bind-mounting a namespace onto a file as `ip netns add` does, host names, flock, and
 * the socket calls of the netlink socket (netlink.ts) and of the DNS resolver (kernel/nssocket.ts). Nothing outside native/ imports koffi.
 * Loaded lazily, so a machine without koffi's binary still runs netlab with `ip` and friends.
 *
 * setns and unshare act on the calling thread only. Node runs JavaScript on one thread, so a
 * caller enters a namespace, does its work synchronously and switches back before it yields.
 */
import { createRequire } from 'node:module';

export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWNET = 0x40000000;
export const MS_RDONLY = 1;
export const MS_REMOUNT = 32;
export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MS_PRIVATE = 1 << 18;
export const MS_SHARED = 1 << 20;
export const MNT_DETACH = 2;
/** _IOR(0xb7, 0x5, __u64) of linux/nsfs.h. */
const NS_GET_MNTNS_ID = 0x8008b705;
/** The size of glibc's cpu_set_t: 1,024 CPUs. */
const CPU_SET_BYTES = 128;
const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;
/** umount2: a symbolic link at the target is not followed (it is refused). */
export const UMOUNT_NOFOLLOW = 8;
/** The loopback device's index in every network namespace (include/net/net_namespace.h). */
const LOOPBACK_IFINDEX = 1;

export interface Libc {
  setns(fd: number, nstype: number): void;
  unshare(flags: number): void;
  /** mount(2); `data` is the file system's own options (tmpfs's `size=`, `mode=`). */
  mount(source: string, target: string, fstype: string, flags: number, data?: string): void;
  umount2(target: string, flags: number): void;
  mkfifo(path: string, mode: number): void;
  sethostname(name: string): void;
  gethostname(): string;
  ifNameToIndex(name: string): number;
  /** flock(2) with LOCK_EX|LOCK_NB: true when taken, false when another holds it. */
  tryLockExclusive(fd: number): boolean;
  /** socket(2); the fd, or a LibcError. */
  socket(domain: number, type: number, protocol: number): number;
  /** send(2) and recv(2): the byte count, or -1 with errno(). */
  send(fd: number, buf: Buffer, len: number, flags: number): number;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  close(fd: number): void;
  /** bind(2), listen(2), setsockopt(2): 0, or a LibcError. */
  bind(fd: number, addr: Buffer): void;
  listen(fd: number, backlog: number): void;
  setsockopt(fd: number, level: number, name: number, value: Buffer): void;
  errno(): number;
  /** The id the kernel numbers a mount namespace with (NS_GET_MNTNS_ID on its fd), or undefined where the kernel has no such ioctl. */
  mntNsId(fd: number): bigint | undefined;
  /** The CPUs the calling thread may run on (sched_getaffinity). */
  allowedCpus(): number[];
  /** Lets the calling thread run on these CPUs only (sched_setaffinity). */
  pinThread(cpus: number[]): void;
}

export class LibcError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
    readonly code: string,
  ) {
    super(`${call}: ${code} (errno ${errno})`);
  }
}

let loaded: Libc | undefined;
let failure: Error | undefined;

/** libc through koffi, or an Error saying why it cannot be had. */
export function libc(): Libc {
  if (loaded) return loaded;
  if (failure) throw failure;
  try {
    loaded = bind();
    return loaded;
  } catch (e) {
    failure = e as Error;
    throw failure;
  }
}

/** Why libc cannot be had here (koffi absent, or its binary not loadable), or undefined when it can. */
export function libcUnavailable(): string | undefined {
  try {
    libc();
    return undefined;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
}

function bind(): Libc {
  const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  const lib = koffi.load('libc.so.6');
  const names = Object.fromEntries(Object.entries(koffi.os.errno).map(([k, v]) => [v, k]));
  const check = (call: string, rc: number) => {
    if (rc < 0) {
      const errno = koffi.errno();
      throw new LibcError(call, errno, names[errno] ?? `E${errno}`);
    }
    return rc;
  };
  const setns = lib.func('int setns(int fd, int nstype)');
  const unshare = lib.func('int unshare(int flags)');
  const mount = lib.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data)');
  const umount2 = lib.func('int umount2(const char *target, int flags)');
  const mkfifo = lib.func('int mkfifo(const char *path, uint32_t mode)');
  const sethostname = lib.func('int sethostname(const char *name, size_t len)');
  const gethostname = lib.func('int gethostname(_Out_ uint8_t *name, size_t len)');
  const ifNameToIndex = lib.func('unsigned int if_nametoindex(const char *name)');
  const flock = lib.func('int flock(int fd, int operation)');
  const socket = lib.func('int socket(int domain, int type, int protocol)');
  const send = lib.func('long send(int fd, const void *buf, size_t len, int flags)');
  const recv = lib.func('long recv(int fd, void *buf, size_t len, int flags)');
  const close = lib.func('int close(int fd)');
  const bindFn = lib.func('int bind(int fd, const void *addr, uint32_t len)');
  const listen = lib.func('int listen(int fd, int backlog)');
  const setsockopt = lib.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)');
  const ioctl = lib.func('int ioctl(int fd, unsigned long request, ...)');
  const getAffinity = lib.func('int sched_getaffinity(int pid, size_t size, _Out_ uint8_t *mask)');
  const setAffinity = lib.func('int sched_setaffinity(int pid, size_t size, const uint8_t *mask)');
  return {
    setns: (fd, nstype) => void check('setns', setns(fd, nstype)),
    unshare: (flags) => void check('unshare', unshare(flags)),
    mount: (source, target, fstype, flags, data) => void check(`mount ${target}`, mount(source, target, fstype, flags, data ?? null)),
    umount2: (target, flags) => void check(`umount ${target}`, umount2(target, flags)),
    mkfifo: (path, mode) => void check(`mkfifo ${path}`, mkfifo(path, mode)),
    sethostname: (name) => void check('sethostname', sethostname(name, Buffer.byteLength(name))),
    gethostname: () => {
      const buf = Buffer.alloc(65);
      check('gethostname', gethostname(buf, 64));
      return buf.subarray(0, buf.indexOf(0)).toString('utf8');
    },
    ifNameToIndex: (name) => {
      // The kernel gives every namespace's loopback index 1 (LOOPBACK_IFINDEX); libc's lookup
      // opens a socket for each name, once per container in a large lab's `up`.
      if (name === 'lo') return LOOPBACK_IFINDEX;
      const index = ifNameToIndex(name) as number;
      if (index === 0) check(`if_nametoindex ${name}`, -1);
      return index;
    },
    tryLockExclusive: (fd) => {
      if (flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
      if (koffi.errno() === EWOULDBLOCK) return false;
      return Boolean(check('flock', -1));
    },
    socket: (domain, type, protocol) => check('socket', socket(domain, type, protocol)),
    send: (fd, buf, len, flags) => send(fd, buf, len, flags) as number,
    recv: (fd, buf, len, flags) => recv(fd, buf, len, flags) as number,
    close: (fd) => void check('close', close(fd)),
    bind: (fd, addr) => void check('bind', bindFn(fd, addr, addr.length)),
    listen: (fd, backlog) => void check('listen', listen(fd, backlog)),
    setsockopt: (fd, level, name, value) => void check('setsockopt', setsockopt(fd, level, name, value, value.length)),
    errno: () => koffi.errno(),
    mntNsId: (fd) => {
      const id = Buffer.alloc(8);
      return ioctl(fd, NS_GET_MNTNS_ID, 'void *', id) === 0 ? id.readBigUInt64LE() : undefined;
    },
    allowedCpus: () => {
      const mask = Buffer.alloc(CPU_SET_BYTES);
      check('sched_getaffinity', getAffinity(0, mask.length, mask));
      return [...Array(CPU_SET_BYTES * 8).keys()].filter((cpu) => (mask[cpu >> 3]! >> (cpu & 7)) & 1);
    },
    pinThread: (cpus) => {
      const mask = Buffer.alloc(CPU_SET_BYTES);
      for (const cpu of cpus) mask[cpu >> 3]! |= 1 << (cpu & 7);
      check('sched_setaffinity', setAffinity(0, mask.length, mask));
    },
  };
}
