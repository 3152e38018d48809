/**
 * One lock for every change netlab makes on the host. Labs share the host's subnets, ports and
 * the built-in firewall chains, so changes are serialized. The lock is flock(2) on
 * /run/netlab/.flock: the kernel releases it when its holder exits or is killed, so there is no
 * stale lock to wait out. The holder writes its pid and purpose into the file for whoever waits.
 */
import { chmodSync, closeSync, ftruncateSync, lstatSync, mkdirSync, openSync, constants, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { RUN_DIR } from '../paths.js';
import { ConflictError, NetlabError } from '../errors.js';
import { tryLockExclusive } from '../kernel/flock.js';
import { log } from '../log.js';
import { ABSENT, ifErrno } from '../kernel/errno.js';

/**
 * The host's lock, wherever a run keeps its state (NETLAB_RUN_DIR): the shared isolation chains
 * and host ports are the host's, so a run with a state folder of its own (the benchmark, a test)
 * must still wait for the others.
 */
export const LOCK_FILE = process.env.NETLAB_LOCK_FILE ?? '/run/netlab/.flock';
/** How long a run waits for another one before giving up. */
export const LOCK_TIMEOUT_MS = Number(process.env.NETLAB_LOCK_TIMEOUT_MS ?? 300_000);

export async function withHostLock<T>(what: string, fn: () => Promise<T>): Promise<T> {
  // A simulated host's share runs while `up --simulate` holds the lock for the whole machine.
  if (process.env.NETLAB_HOST_LOCK_HELD === '1') return fn();
  ensureRunDir(RUN_DIR);
  ensureRunDir(dirname(LOCK_FILE));
  const fd = openLockFile();
  try {
    const deadline = Date.now() + LOCK_TIMEOUT_MS;
    let told = false;
    while (!tryLockExclusive(fd)) {
      const holder = readHolder();
      if (!told) {
        log().warn(`waiting for another netlab run to finish (${holder})`);
        told = true;
      }
      if (Date.now() > deadline) throw new NetlabError(`cannot ${what}: another netlab run (${holder}) has held ${LOCK_FILE} for over ${LOCK_TIMEOUT_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, 50));
    }
    ftruncateSync(fd, 0);
    writeSync(fd, `pid ${process.pid}: ${what}\n`, 0);
    try {
      return await fn();
    } finally {
      ftruncateSync(fd, 0);
    }
  } finally {
    // Closing the last descriptor releases the lock.
    closeSync(fd);
  }
}

/** The lock file, never through a symbolic link (the holder truncates and writes it). */
function openLockFile(): number {
  try {
    return openSync(LOCK_FILE, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw new ConflictError(`${LOCK_FILE} is a symbolic link where netlab keeps its lock file; remove it and try again`);
    throw e;
  }
}

function readHolder(): string {
  try {
    return readFileSync(LOCK_FILE, 'utf8').trim() || 'pid unknown';
  } catch (e) {
    // The holder may have let go (and removed it) since.
    return ifErrno(e, ABSENT, 'pid unknown');
  }
}

/** /run/netlab must be root's own folder, writable by root only: it decides what `down` removes. */
function ensureRunDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== 0) throw new NetlabError(`${dir} is not a folder owned by root; netlab will not keep its state there (remove it and try again)`);
  if ((st.mode & 0o022) !== 0) chmodSync(dir, 0o755);
}
