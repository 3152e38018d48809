/**
 * A fresh mount namespace that its binder may bind on a file. The kernel refuses (EINVAL) to bind
 * a mount namespace whose id is not above the binder's own (mnt_ns_loop), and since Linux 6.18
 * ids come from per-CPU batches: a namespace made later on another CPU can get a lower id. The
 * binder's own is old on a host (its id is small), but recent where netlab runs in a namespace
 * made just before (a sandboxed service, a container, a throwaway test host).
 */
import { closeSync, openSync, readFileSync } from 'node:fs';
import { CLONE_NEWNS, libc } from '../native/libc.js';

/** A CPU's batch holds 4,096 ids (COOKIE_LOCAL_BATCH); past it the CPU takes a batch above every id given so far. */
const IDS_PER_BATCH = 4096;

/**
 * Unshares a copy of `template` in the calling thread and returns an fd of it; where its id is not
 * above `binderId`, makes it anew on each CPU the thread may use in turn (the CPU that numbered
 * the binder's is always far enough), as snapd does; on one CPU alone, until its batch runs out.
 */
export function unshareBindable(template: number, binderId: bigint | undefined): number {
  let own = unshareCopy(template);
  if (binderId === undefined || isAbove(own, binderId)) return own;
  const cpus = libc().allowedCpus();
  try {
    for (let i = 0; i < (IDS_PER_BATCH + 1) * cpus.length; i++) {
      closeSync(own);
      libc().pinThread([cpus[i % cpus.length]!]);
      own = unshareCopy(template);
      if (isAbove(own, binderId)) return own;
    }
    return own;
  } finally {
    libc().pinThread(cpus);
  }
}

function unshareCopy(template: number): number {
  libc().setns(template, CLONE_NEWNS);
  libc().unshare(CLONE_NEWNS);
  return openSync('/proc/thread-self/ns/mnt', 'r');
}

/** Whether the namespace of `fd` is numbered above the binder's (or the kernel does not say: then ids are global and always are). */
function isAbove(fd: number, binderId: bigint): boolean {
  const id = libc().mntNsId(fd);
  return id === undefined || id > binderId;
}

/** unshare(1)'s words where the kernel refused to bind the namespace it made (as above). */
export const REFUSED_BIND = /^unshare: mount \S+ on .* failed: Invalid argument$/m;

/** The CPUs online (/sys/devices/system/cpu/online: "0-3,6"), for unshare(1) to be tried on each. */
export function onlineCpus(list = readFileSync('/sys/devices/system/cpu/online', 'utf8')): number[] {
  return list
    .trim()
    .split(',')
    .filter(Boolean)
    .flatMap((range) => {
      const [first, last = first] = range.split('-').map(Number) as [number, number?];
      return Array.from({ length: last - first + 1 }, (_, i) => first + i);
    });
}
