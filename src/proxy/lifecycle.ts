/**
 * The IPv6 loopback proxy's life, driven by up, down and status: started when a port of the lab
 * reaches [::1], told to reload (SIGHUP) when its config changes, left alone otherwise, stopped
 * with the lab. netlab trusts the pid in its pid file only when the process carries the lab's
 * mark in its environment and runs the proxy's script.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { labDir } from '../paths.js';
import { helperWaitMs, stopProcesses } from '../kernel/processes.js';
import { helperFiles, helperMark, helperPid, isHelperOf, markedHelpers, readText, startHelper, waitFor, writeAtomic, type HelperKind } from '../kernel/labhelper.js';
import { NetlabError } from '../errors.js';
import type { ProxyConfig } from './config.js';

/** The proxy's script, reached the same way from dist/ and from src/. */
export const PROXY_SCRIPT = fileURLToPath(new URL('../../dist/proxy/server.js', import.meta.url));
/** The variable that marks a lab's proxy: `<lab>` or `<lab>/<host>`. */
export const PROXY_MARK = 'NETLAB_PROXY6';

export const proxyFiles = (lab: string, host?: string) => helperFiles('proxy6', lab, host);

export const proxyMarkOf = helperMark;

export interface ProxyResult {
  action: 'none' | 'started' | 'reloaded' | 'stopped';
  pid?: number;
  /** Ports it could not listen on, with the reason: `[::1]:8080/tcp: listen EADDRINUSE ...`. */
  failed?: string[];
}

const PROXY: HelperKind = { script: PROXY_SCRIPT, scriptEnd: '/proxy/server.js', markKey: PROXY_MARK };

/** The proxy's pid when it runs and is verifiably this lab's. */
export function proxyPid(lab: string, host?: string): number | undefined {
  return helperPid(PROXY, proxyFiles(lab, host), proxyMarkOf(lab, host));
}

/** Whether the process runs the proxy's script with this mark (any lab's when `mark` is undefined). */
export const isProxyOf = (pid: number, mark?: string): boolean => isHelperOf(PROXY, pid, mark);

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
  const running = pid ?? startHelper(PROXY, files, proxyMarkOf(lab, host));
  if (pid !== undefined) process.kill(pid, 'SIGHUP');
  const failed = await waitLoaded(files.config, text);
  return { action: pid === undefined ? 'started' : 'reloaded', pid: running, ...(failed.length > 0 ? { failed } : {}) };
}

/** Stops the lab's proxy: every process carrying its mark (also one whose pid file was lost). */
export async function stopProxy(lab: string, host?: string): Promise<void> {
  const pids = markedHelpers(PROXY, proxyMarkOf(lab, host));
  if (pids.length > 0) await stopProcesses(pids, 2000);
  const files = proxyFiles(lab, host);
  for (const f of [files.pid, files.config, `${files.config}.loaded`]) rmSync(f, { force: true });
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
