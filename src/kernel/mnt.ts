/**
 * Persistent mount namespaces, one per container, bound on a file under the lab's folder as
 * UTS namespaces are. The folder is bound on itself with private propagation: the kernel binds
 * a mount namespace only on a mount that is not shared (unshare(1), "--mount=file").
 */
import { readFileSync } from 'node:fs';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { removePath } from './host.js';
import { run } from './run.js';
import { KernelError } from '../errors.js';
import { NETNS_DIR } from '../paths.js';
import { ABSENT, ifErrno } from './errno.js';
import { onlineCpus, REFUSED_BIND } from './mntorder.js';

/** Mount points in /proc/self/mountinfo: [target, fstype]. */
function mountTable(): [string, string][] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const f = l.split(' ');
      return [f[4]!.replace(/\\040/g, ' '), f[f.indexOf('-') + 1] ?? ''];
    });
}

/** Mount namespace files mounted under `dir`. */
export function mountedMnt(dir: string): string[] {
  return mountTable()
    .filter(([t, fs]) => fs === 'nsfs' && t.startsWith(`${dir}/`))
    .map(([t]) => t);
}

/** Every mount of the host's mount namespace at or under `dir`. */
export function mountsUnder(dir: string): string[] {
  return mountTable()
    .map(([t]) => t)
    .filter((t) => t === dir || t.startsWith(`${dir}/`));
}

/** The file beside a namespace that holds the hash of the mounts it was made with. */
export const specFileOf = (path: string) => `${path}.spec`;
/** The container's fstab, beside its namespace. */
export const fstabFileOf = (path: string) => `${path}.fstab`;

/** Read synchronously: a no-op `up` reads one per container, and an await each cost more than the reads. */
export function readMntHash(path: string): string {
  try {
    return readFileSync(specFileOf(path), 'utf8').trim();
  } catch (e) {
    return ifErrno(e, ABSENT, '');
  }
}

const privateDirs = new Map<string, Promise<void>>();

/** Binds `dir` on itself, private, once (a lab's containers share it). */
export function ensurePrivateDir(dir: string): Promise<void> {
  let p = privateDirs.get(dir);
  if (!p) {
    p = (async () => {
      await mkdir(dir, { recursive: true, mode: 0o755 });
      if (mountsUnder(dir).includes(dir)) return;
      await run('mount', ['--bind', dir, dir]);
      await run('mount', ['--make-private', dir]);
    })();
    privateDirs.set(dir, p);
    // A failed attempt is not remembered: the next caller tries again (the caller of this one gets the error).
    p.catch(() => privateDirs.delete(dir));
  }
  return p;
}

/** The argv that makes the namespace: a new mount namespace bound on `path`, entering the container's network namespace. */
export function mntAddArgv(path: string, ns: string): string[] {
  return ['unshare', `--mount=${path}`, '--propagation', 'private', 'nsenter', `--net=${join(NETNS_DIR, ns)}`, 'bash', '-e'];
}

export async function addMnt(path: string, ns: string, script: string[], fstab: string, hash: string): Promise<void> {
  await ensurePrivateDir(dirname(path));
  await (await open(path, 'a', 0o600)).close();
  await writeFile(fstabFileOf(path), fstab, { mode: 0o644 });
  const r = await runUnshare(path, ns, script);
  if (r.exitCode !== 0) {
    await removeMnt(path);
    throw new KernelError(`the mount namespace ${path} of ${ns}: ${(r.stderr || r.stdout).trim()}`, `${mntAddArgv(path, ns).join(' ')} <<'EOF'\n${script.join('\n')}\nEOF`);
  }
  await writeFile(specFileOf(path), `${hash}\n`, { mode: 0o644 });
}

/** The script under unshare(1); where the kernel refused the bind for the new namespace's id (kernel/mntorder.ts), again on each CPU in turn. */
async function runUnshare(path: string, ns: string, script: string[]) {
  const argv = mntAddArgv(path, ns);
  const input = `${script.join('\n')}\n`;
  let r = await run(argv[0]!, argv.slice(1), { input, allowFail: true });
  for (const cpu of REFUSED_BIND.test(r.stderr) ? onlineCpus() : []) {
    r = await run('taskset', ['-c', String(cpu), ...argv], { input, allowFail: true });
    if (!REFUSED_BIND.test(r.stderr)) break;
  }
  return r;
}

/** Removes the namespace bound on `path` and its files; `removeNsFile` unbinds and removes the namespace file (the backend's way). */
export async function removeMnt(path: string, removeNsFile = umountAndRemove): Promise<void> {
  await removeNsFile(path);
  await removePath(specFileOf(path));
  await removePath(fstabFileOf(path));
}

async function umountAndRemove(path: string): Promise<void> {
  await run('umount', [path], { allowFail: true });
  await removePath(path);
}

/** After the last namespace of the folder went: the folder's own bind, so that no mount of the lab is left. */
export async function releasePrivateDir(dir: string): Promise<void> {
  privateDirs.delete(dir);
  if (mountedMnt(dir).length > 0) return;
  for (const m of mountsUnder(dir).reverse()) await run('umount', ['-l', m], { allowFail: true });
}
