/** sysctls and the per-container /etc files. */
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { writeOwnAtomic } from './ownfs.js';
import { existsSync, rmdirSync, unlinkSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { log } from '../log.js';
import { run } from './run.js';
import { ABSENT, ifErrno } from './errno.js';

export const sysctlPath = (key: string) => join('/proc/sys', key.replaceAll('.', '/'));

export async function readSysctl(key: string): Promise<string | undefined> {
  try {
    return (await readFile(sysctlPath(key), 'utf8')).trim();
  } catch (e) {
    // A sysctl this kernel does not have (net.bridge.* before br_netfilter, ipv6 when disabled), or root's only.
    return ifErrno(e, [...ABSENT, 'EACCES'], undefined);
  }
}

export async function writeSysctl(key: string, value: string): Promise<void> {
  log().debug({ key, value }, 'sysctl');
  try {
    await writeFile(sysctlPath(key), value);
  } catch (e) {
    // net.bridge.* exists only once br_netfilter is loaded (Docker loads it the same way).
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || !key.startsWith('net.bridge.')) throw e;
    await run('modprobe', ['br_netfilter']);
    await writeFile(sysctlPath(key), value);
  }
}

/** Whether this kernel has IPv6 (not booted with ipv6.disable=1): /etc/hosts gets its IPv6 lines, and container interfaces get IPv6 turned off. */
export const kernelHasIpv6 = () => existsSync('/proc/sys/net/ipv6');

export async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    return ifErrno(e, [...ABSENT, 'ENOTDIR'], undefined);
  }
}

/** Written atomically: a reader sees the old file or the new one, never half of it; never through a symbolic link (ownfs.ts). */
export async function writeAtomic(path: string, content: string, mode = 0o644): Promise<void> {
  writeOwnAtomic(path, content, mode);
}

/** Removes a file, or an empty folder; absent is fine. */
export async function removePath(path: string): Promise<void> {
  // Synchronous calls: a lab removes a few thousand of these small files and folders.
  try {
    unlinkSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'EISDIR' || code === 'EPERM') {
      try {
        rmdirSync(path);
      } catch (e) {
        ifErrno(e, ['ENOTEMPTY', 'ENOENT'], undefined);
      }
    } else throw e;
  }
}

/** A folder's entries with their types (a symbolic link is told from what it points to); absent is empty. */
export async function listEntries(path: string): Promise<Dirent[]> {
  try {
    return await readdir(path, { withFileTypes: true });
  } catch (e) {
    return ifErrno(e, [...ABSENT, 'ENOTDIR'], []);
  }
}

export async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (e) {
    return ifErrno(e, [...ABSENT, 'ENOTDIR'], []);
  }
}

/** Identity of the network namespace netlab runs in, "the host" (a test may run netlab inside a namespace). */
export async function hostNetnsId(): Promise<number> {
  return (await stat('/proc/self/ns/net')).ino;
}
