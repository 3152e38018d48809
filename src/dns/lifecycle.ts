/**
 * The resolver process's life, driven by up, down and status: started when the lab has a
 * container on a user-defined network, told to reload (SIGHUP) when its config changes or a
 * namespace it serves was made anew, stopped with the lab. netlab finds it by its pid file and
 * trusts that pid only when the process carries the lab's mark in its environment and runs
 * the resolver's script.
 */
import { createHash } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { NETNS_DIR } from '../paths.js';
import { helperWaitMs as waitMs, isAlive, stopProcesses } from '../kernel/processes.js';
import { helperFiles, helperMark, helperPid, markedHelpers, readText, startHelper, waitFor, writeAtomic, type HelperKind } from '../kernel/labhelper.js';
import type { ResolverConfig } from './records.js';
import { NetlabError } from '../errors.js';

/** The resolver's script, reached the same way from dist/ and from src/. */
export const RESOLVER_SCRIPT = fileURLToPath(new URL('../../dist/dns/server.js', import.meta.url));
/** The variable that marks a lab's resolver: `<lab>` or `<lab>/<host>`. */
export const RESOLVER_MARK = 'NETLAB_DNS';

export const resolverFiles = (lab: string, host?: string) => helperFiles('dns', lab, host);

const RESOLVER: HelperKind = { script: RESOLVER_SCRIPT, scriptEnd: '/dns/server.js', markKey: RESOLVER_MARK };

/** The resolver's pid when it runs and is verifiably this lab's. */
export function resolverPid(lab: string, host?: string): number | undefined {
  return helperPid(RESOLVER, resolverFiles(lab, host), helperMark(lab, host));
}

export interface EnsureResult {
  action: 'none' | 'started' | 'reloaded' | 'stopped';
  pid?: number;
}

/**
 * Makes the running resolver match `config`: starts it when missing, reloads it when the config
 * changed or `renewed` (namespaces it serves were made anew), stops it when there is none.
 */
export async function ensureResolver(lab: string, host: string | undefined, config: ResolverConfig | undefined, renewed = false, early?: number): Promise<EnsureResult> {
  const files = resolverFiles(lab, host);
  if (early !== undefined && config && resolverPid(lab, host) === early) {
    // Started with no namespaces while up built them: once it has loaded (its SIGHUP handler is
    // in place), it gets the real config and opens its sockets in the finished namespaces.
    await waitLoaded(files.config, idleConfig(config));
    const text = `${JSON.stringify(config)}\n`;
    writeAtomic(files.config, text);
    rmSync(`${files.config}.loaded`, { force: true });
    process.kill(early, 'SIGHUP');
    await waitLoaded(files.config, text, early);
    return { action: 'started', pid: early };
  }
  const pid = resolverPid(lab, host);
  if (!config) {
    if (pid === undefined && !existsSync(files.config)) return { action: 'none' };
    await stopResolver(lab, host);
    return { action: 'stopped' };
  }
  const text = `${JSON.stringify(config)}\n`;
  const changed = readText(files.config) !== text;
  if (pid !== undefined && !changed && !renewed && !servesLess(files.config)) return { action: 'none', pid };
  // One still starting (a run that started it failed at once) would die of a SIGHUP before its handler is in place.
  if (pid !== undefined) await waitStarted(files.config);
  if (changed) writeAtomic(files.config, text);
  // What an earlier process said it loaded must not pass for this one's answer.
  rmSync(`${files.config}.loaded`, { force: true });
  if (pid === undefined) {
    const started = startHelper(RESOLVER, resolverFiles(lab, host), helperMark(lab, host));
    await waitLoaded(files.config, text);
    return { action: 'started', pid: started };
  }
  process.kill(pid, 'SIGHUP');
  await waitLoaded(files.config, text, pid);
  return { action: 'reloaded', pid };
}

/**
 * Before the apply: when the lab needs a resolver and none runs, writes its config and starts
 * it, so that its start overlaps the apply. Its pid, for ensureResolver to finish the start.
 */
export function startResolverEarly(lab: string, host: string | undefined, config: ResolverConfig | undefined): number | undefined {
  if (!config || resolverPid(lab, host) !== undefined) return undefined;
  const files = resolverFiles(lab, host);
  // No namespaces yet: the kernel lets a socket bind 127.0.0.11 before the namespace's lo is
  // up, and such a socket answers from 127.0.0.1, which resolvers drop.
  writeAtomic(files.config, idleConfig(config));
  rmSync(`${files.config}.loaded`, { force: true });
  return startHelper(RESOLVER, resolverFiles(lab, host), helperMark(lab, host));
}

const idleConfig = (config: ResolverConfig) => `${JSON.stringify({ ...config, views: [] })}\n`;

/** Before namespaces go: the resolver closes its sockets in them (they would keep each namespace, and its veth, alive). */
export async function releaseNamespaces(lab: string, host: string | undefined, going: Set<string>): Promise<void> {
  const pid = resolverPid(lab, host);
  const files = resolverFiles(lab, host);
  const old = readText(files.config);
  if (pid === undefined || old === undefined) return;
  const config = JSON.parse(old) as ResolverConfig;
  if (!config.views.some((v) => going.has(v.ns))) return;
  await waitStarted(files.config);
  const text = `${JSON.stringify({ ...config, views: config.views.filter((v) => !going.has(v.ns)) })}\n`;
  writeAtomic(files.config, text);
  rmSync(`${files.config}.loaded`, { force: true });
  process.kill(pid, 'SIGHUP');
  await waitLoaded(files.config, text, pid);
}

/** Stops the lab's resolver: every process carrying its mark (also one whose pid file was lost). */
export async function stopResolver(lab: string, host?: string): Promise<void> {
  const pids = markedHelpers(RESOLVER, helperMark(lab, host));
  if (pids.length > 0) await stopProcesses(pids, 2000);
  const files = resolverFiles(lab, host);
  for (const f of [files.pid, files.config, `${files.config}.loaded`]) rmSync(f, { force: true });
}

/** Whether a namespace the resolver could not serve when it last loaded exists now (a run killed before it told the resolver). */
function servesLess(configPath: string): boolean {
  const missing = (readText(`${configPath}.loaded`) ?? '').split('\n').slice(1).filter(Boolean);
  return missing.some((ns) => existsSync(join(NETNS_DIR, ns)));
}

/** Waits (at most waitMs) until a resolver has loaded some config: its SIGHUP handler is then in place. */
async function waitStarted(configPath: string): Promise<void> {
  await waitFor(() => existsSync(`${configPath}.loaded`));
}

/**
 * Waits (at most waitMs) until the resolver says it loaded `text`. With the pid of a resolver that
 * was told to reload, tells it again each second it has not (a reload is safe to repeat).
 */
async function waitLoaded(configPath: string, text: string, reloading?: number): Promise<void> {
  const hash = createHash('sha256').update(text).digest('hex');
  const started = Date.now();
  let told = started;
  while (Date.now() < started + waitMs()) {
    if (readText(`${configPath}.loaded`)?.split('\n')[0] === hash) return;
    await new Promise((r) => setTimeout(r, 10));
    if (reloading !== undefined && Date.now() - told >= 1000 && isAlive(reloading)) {
      process.kill(reloading, 'SIGHUP');
      told = Date.now();
    }
  }
  // Not a bug of netlab's: a slow machine (an emulated VM) may need a longer wait.
  throw new NetlabError(`the lab's DNS resolver did not load ${configPath} within ${waitMs() / 1000} s (see its log in the lab's logs folder; NETLAB_HELPER_WAIT_MS=milliseconds waits longer)`);
}
