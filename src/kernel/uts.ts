/**
 * Persistent UTS namespaces, one per container, bind-mounted on a file the way `ip netns`
 * keeps network namespaces, so `hostname` inside a container prints its own name.
 */
import { closeSync, constants, readFileSync } from 'node:fs';
import { openOwn } from './ownfs.js';
import { removePath } from './host.js';
import { run } from './run.js';

/** Mount points of namespace files (nsfs), from this process's mount table (one /proc file, read synchronously). */
export function mountPoints(): string[] {
  const info = readFileSync('/proc/self/mountinfo', 'utf8');
  return info
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[4] !== undefined && f.includes('nsfs'))
    .map((f) => f[4]!.replace(/\\040/g, ' '));
}

/** Mount points of UTS namespace files under `dir`. */
export function mountedUts(dir: string): string[] {
  return mountPoints().filter((p) => p.startsWith(`${dir}/`));
}

export async function readUtsHostname(path: string): Promise<string | undefined> {
  const r = await run('nsenter', [`--uts=${path}`, 'hostname'], { allowFail: true });
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}

export async function ensureUts(path: string, hostname: string, mounted: boolean): Promise<void> {
  if (mounted) {
    await run('nsenter', [`--uts=${path}`, 'hostname', hostname]);
    return;
  }
  // The file the namespace is bound on: netlab's own, never a link (the bind would land on its target).
  closeSync(openOwn(path, constants.O_WRONLY | constants.O_CREAT, 0o600));
  await run('unshare', [`--uts=${path}`, 'hostname', hostname]);
}

export async function removeUts(path: string): Promise<void> {
  await run('umount', [path], { allowFail: true });
  await removePath(path);
}
