/**
 * The IPv6 loopback proxy's life, driven by up, down and status: started when a port of the lab
 * reaches [::1], told to reload (SIGHUP) when its config changes, left alone otherwise, stopped
 * with the lab. netlab trusts the pid in its pid file only when the process carries the lab's
 * mark in its environment and runs the proxy's script.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { labDir, shareDir } from '../paths.js';
import { helperWaitMs, isAlive, stopProcesses } from '../kernel/processes.js';
import { NetlabError } from '../errors.js';
import type { ProxyConfig } from './config.js';

/** The proxy's script, reached the same way from dist/ and from src/. */
export const PROXY_SCRIPT = fileURLToPath(new URL('../../dist/proxy/server.js', import.meta.url));
/** The variable that marks a lab's proxy: `<lab>` or `<lab>/<host>`. */
export const PROXY_MARK = 'NETLAB_PROXY6';

export const proxyFiles = (lab: string, host?: string) => {
  const dir = shareDir(lab, host);
  return {
    config: join(dir, 'proxy6.json'),
    pid: join(dir, 'proxy6.pid'),
    log: join(labDir(lab), 'logs', host ? `proxy6-${host}.log` : 'proxy6.log'),
  };
};

export const proxyMarkOf = (lab: string, host?: string) => (host ? `${lab}/${host}` : lab);

export interface ProxyResult {
  action: 'none' | 'started' | 'reloaded' | 'stopped';
  pid?: number;
  /** Ports it could not listen on, with the reason: `[::1]:8080/tcp: listen EADDRINUSE ...`. */
  failed?: string[];
}

/** The proxy's pid when it runs and is verifiably this lab's. */
export function proxyPid(lab: string, host?: string): number | undefined {
  const pid = Number(readText(proxyFiles(lab, host).pid)?.trim());
  if (!Number.isInteger(pid) || pid <= 1 || !isAlive(pid)) return undefined;
  return isProxyOf(pid, proxyMarkOf(lab, host)) ? pid : undefined;
}

/** Whether the process runs the proxy's script with this mark (any lab's when `mark` is undefined). */
export function isProxyOf(pid: number, mark?: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
    if (!cmdline.some((a) => a.endsWith('/proxy/server.js'))) return false;
    const environ = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
    return environ.some((e) => (mark === undefined ? e.startsWith(`${PROXY_MARK}=`) : e === `${PROXY_MARK}=${mark}`));
  } catch {
    return false;
  }
}

/** Makes the running proxy match `config`: starts it when missing, reloads it when the config changed, stops it when there is none. */
export async function ensureProxy(lab: string, host: string | undefined, config: ProxyConfig | undefined): Promise<ProxyResult> {
  const files = proxyFiles(lab, host);
  const pid = proxyPid(lab, host);
  if (!config) {
    if (pid === undefined && !existsSync(files.config)) return { action: 'none' };
    await stopProxy(lab, host);
    return { action: 'stopped' };
  }
  const text = `${JSON.stringify(config)}\n`;
  // A port it could not listen on (held by then) is tried again: a reload opens only what it lacks.
  const failedBefore = (readText(`${files.config}.loaded`) ?? '').split('\n').slice(1).some(Boolean);
  if (pid !== undefined && readText(files.config) === text && !failedBefore) return { action: 'none', pid };
  // One still starting would die of a SIGHUP before its handler is in place.
  if (pid !== undefined) await waitFor(() => existsSync(`${files.config}.loaded`));
  writeAtomic(files.config, text);
  // What an earlier process said it loaded must not pass for this one's answer.
  rmSync(`${files.config}.loaded`, { force: true });
  const running = pid ?? startProxy(lab, host);
  if (pid !== undefined) process.kill(pid, 'SIGHUP');
  const failed = await waitLoaded(files.config, text);
  return { action: pid === undefined ? 'started' : 'reloaded', pid: running, ...(failed.length > 0 ? { failed } : {}) };
}

/** Stops the lab's proxy: every process carrying its mark (also one whose pid file was lost). */
export async function stopProxy(lab: string, host?: string): Promise<void> {
  const pids = markedProxies(proxyMarkOf(lab, host));
  if (pids.length > 0) await stopProcesses(pids, 2000);
  const files = proxyFiles(lab, host);
  for (const f of [files.pid, files.config, `${files.config}.loaded`]) rmSync(f, { force: true });
}

/** Processes that run the proxy's script with this mark. */
function markedProxies(mark: string): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((pid) => isProxyOf(pid, mark));
}

function startProxy(lab: string, host: string | undefined): number {
  const files = proxyFiles(lab, host);
  // One a killed run started but did not record would hold the ports with an old config.
  for (const orphan of markedProxies(proxyMarkOf(lab, host))) process.kill(orphan, 'SIGKILL');
  mkdirSync(join(labDir(lab), 'logs'), { recursive: true, mode: 0o755 });
  const fd = openSync(files.log, 'a', 0o640);
  const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', [PROXY_MARK]: proxyMarkOf(lab, host) };
  const child = spawn(process.execPath, [PROXY_SCRIPT, files.config], { detached: true, stdio: ['ignore', fd, fd], env, cwd: '/' });
  closeSync(fd);
  child.unref();
  writeAtomic(files.pid, `${child.pid}\n`);
  return child.pid ?? 0;
}

async function waitFor(done: () => boolean, ms = helperWaitMs()): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/** Waits (at most helperWaitMs) until the proxy says it loaded `text`; the ports it could not listen on. */
async function waitLoaded(configPath: string, text: string): Promise<string[]> {
  const hash = createHash('sha256').update(text).digest('hex');
  const loaded = () => readText(`${configPath}.loaded`)?.split('\n') ?? [];
  if (!(await waitFor(() => loaded()[0] === hash))) {
    throw new NetlabError(
      `the lab's IPv6 loopback proxy did not load ${configPath} within ${helperWaitMs() / 1000} s (see its log in the lab's logs folder; NETLAB_HELPER_WAIT_MS=milliseconds waits longer)`,
    );
  }
  return loaded().slice(1).filter(Boolean);
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Written beside and renamed over: a reader sees the old file or the new; a symlink in the way is replaced, never followed. */
function writeAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.netlab-tmp`;
  rmSync(tmp, { force: true });
  writeFileSync(tmp, text, { mode: 0o644, flag: 'wx' });
  renameSync(tmp, path);
}

/** The inodes of the sockets that this lab's proxies (one per host share here) hold. */
export function ownProxySockets(lab: string): Set<number> {
  let hosts: string[] = [];
  try {
    hosts = readdirSync(join(labDir(lab), 'hosts'));
  } catch {
    /* a single-host lab */
  }
  const out = new Set<number>();
  for (const pid of [proxyPid(lab), ...hosts.map((h) => proxyPid(lab, h))]) {
    if (pid !== undefined) for (const inode of socketInodes(pid)) out.add(inode);
  }
  return out;
}

/** The inodes of the sockets a process holds open. */
export function socketInodes(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkOrEmpty(`/proc/${pid}/fd/${fd}`));
      if (m) out.push(Number(m[1]));
    }
  } catch {
    /* exited meanwhile */
  }
  return out;
}

function readlinkOrEmpty(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
}
