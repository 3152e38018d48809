/**
 * What a lab's own long-lived helpers (its DNS resolver, its IPv6 loopback proxy) share: one is
 * found by its script and the lab's mark in its environment, started detached with its output in
 * the lab's log, and its pid and config files are written whole or not at all.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { labDir, shareDir } from '../paths.js';
import { helperWaitMs, isAlive } from './processes.js';

export interface HelperKind {
  /** The script node runs, and the end of its path by which /proc/PID/cmdline is recognised. */
  script: string;
  scriptEnd: string;
  /** The environment variable whose value is the lab's mark. */
  markKey: string;
}

export interface HelperFiles {
  config: string;
  pid: string;
  log: string;
}

/** A helper's files, named `name`: its config and pid in the share's folder, its log in the lab's logs folder. */
export function helperFiles(name: string, lab: string, host?: string): HelperFiles {
  const dir = shareDir(lab, host);
  return { config: join(dir, `${name}.json`), pid: join(dir, `${name}.pid`), log: join(labDir(lab), 'logs', host ? `${name}-${host}.log` : `${name}.log`) };
}

/** The value of a helper's mark: `<lab>`, or `<lab>/<host>` for a simulated host's share. */
export const helperMark = (lab: string, host?: string) => (host ? `${lab}/${host}` : lab);

/** Whether `pid` runs the helper's script with this mark (any lab's when `mark` is undefined). */
export function isHelperOf(kind: HelperKind, pid: number, mark?: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
    if (!cmdline.some((a) => a.endsWith(kind.scriptEnd))) return false;
    const environ = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
    return environ.some((e) => (mark === undefined ? e.startsWith(`${kind.markKey}=`) : e === `${kind.markKey}=${mark}`));
  } catch {
    return false; // exited meanwhile
  }
}

/** Every process running the helper's script with this mark. */
export function markedHelpers(kind: HelperKind, mark: string): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((pid) => isHelperOf(kind, pid, mark));
}

/** The pid in the helper's pid file, when that process runs and is verifiably the lab's. */
export function helperPid(kind: HelperKind, files: HelperFiles, mark: string): number | undefined {
  const pid = Number(readText(files.pid)?.trim());
  if (!Number.isInteger(pid) || pid <= 1 || !isAlive(pid)) return undefined;
  return isHelperOf(kind, pid, mark) ? pid : undefined;
}

/** Starts the helper detached on its config, its output appended to its log; returns its pid. */
export function startHelper(kind: HelperKind, files: HelperFiles, mark: string): number {
  // One a killed run started but did not record would hold its sockets with an old config.
  for (const orphan of markedHelpers(kind, mark)) process.kill(orphan, 'SIGKILL');
  mkdirSync(dirname(files.log), { recursive: true, mode: 0o755 });
  const fd = openSync(files.log, 'a', 0o640);
  const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', [kind.markKey]: mark };
  const child = spawn(process.execPath, [kind.script, files.config], { detached: true, stdio: ['ignore', fd, fd], env, cwd: '/' });
  closeSync(fd);
  child.unref();
  writeAtomic(files.pid, `${child.pid}\n`);
  return child.pid ?? 0;
}

/** Polls `done` until it holds or `ms` passed; whether it held. */
export async function waitFor(done: () => boolean, ms = helperWaitMs()): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

export function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Written beside and renamed over: a reader sees the old file or the new; a symlink in the way is replaced, never followed. */
export function writeAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.netlab-tmp`;
  rmSync(tmp, { force: true });
  writeFileSync(tmp, text, { mode: 0o644, flag: 'wx' });
  renameSync(tmp, path);
}
