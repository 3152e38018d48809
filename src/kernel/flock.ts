/**
 * flock(2) on the host's lock file: an advisory lock the kernel drops by itself when its holder
 * dies, so a killed netlab never leaves a lock that the next run must wait out. In-process
 * through libc; where koffi cannot load, util-linux's flock(1) takes it on the same open file
 * (an inherited descriptor shares the open file, so the lock stays with us after it exits).
 */
import { spawnSync } from 'node:child_process';
import { LibcError, libc } from '../native/libc.js';
import { log } from '../log.js';

let fallbackSaid = false;

/** Takes an exclusive lock on `fd` if no one holds it; false when another process does. */
export function tryLockExclusive(fd: number): boolean {
  let lib: ReturnType<typeof libc>;
  try {
    lib = libc();
  } catch (e) {
    if (e instanceof LibcError) throw e;
    return lockWithProgram(fd, (e as Error).message.split('\n')[0]!);
  }
  return lib.tryLockExclusive(fd);
}

function lockWithProgram(fd: number, why: string): boolean {
  if (!fallbackSaid) log().info({ reason: why }, 'libc through koffi unavailable: the host lock is taken with flock(1)');
  fallbackSaid = true;
  const r = spawnSync('flock', ['--exclusive', '--nonblock', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
  if (r.error) throw new Error(`flock(1) cannot run: ${r.error.message} (install util-linux)`);
  if (r.status === 0) return true;
  if (r.status === 1) return false;
  throw new Error(`flock(1) failed: ${r.stderr.toString().trim()}`);
}
