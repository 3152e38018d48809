/**
 * flock(2) through koffi: an advisory lock the kernel drops by itself when its holder dies, so a
 * killed netlab never leaves a lock that the next run must wait out.
 */
import koffi from 'koffi';

const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;

let flockFn: ((fd: number, op: number) => number) | undefined;

function flock(): (fd: number, op: number) => number {
  flockFn ??= koffi.load('libc.so.6').func('int flock(int fd, int operation)') as (fd: number, op: number) => number;
  return flockFn;
}

/** Takes an exclusive lock on `fd` if no one holds it; false when another process does. */
export function tryLockExclusive(fd: number): boolean {
  if (flock()(fd, LOCK_EX | LOCK_NB) === 0) return true;
  const errno = koffi.errno();
  if (errno === EWOULDBLOCK) return false;
  throw new Error(`flock failed with errno ${errno}`);
}
