/**
 * Readiness after `up`, as `docker compose up --wait`: every command runs (not exited, not
 * restarting) and each published TCP port listens inside its container's network namespace.
 * The listening sockets are read from /proc/<pid>/net/tcp, which shows the namespace of <pid>.
 */
import { readFileSync } from 'node:fs';
import type { LabContainer } from '../model/lab.js';
import { eachPort } from '../model/ports.js';
import { logPath } from '../paths.js';
import { statuses, type ContainerState } from './query.js';
import type { StateFile } from './state.js';
import { ABSENT, GONE, ifErrno } from '../kernel/errno.js';

export interface NotReady {
  name: string;
  /** What it waits for, or what went wrong: `exited with code 3`, `port 80/tcp not listening`. */
  reason: string;
  exited: boolean;
  exitCode?: number;
  /** The last lines of its log. */
  logTail: string[];
}

const LISTEN = '0A';

/** The TCP ports listening in the network namespace of `pid`. */
export function listeningPorts(pid: number): Set<number> {
  const ports = new Set<number>();
  for (const file of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/net/${file}`, 'utf8');
    } catch (e) {
      // Exited, or tcp6 on a kernel without IPv6.
      ifErrno(e, GONE, undefined);
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === LISTEN) ports.add(parseInt(f[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

export function logTail(lab: string, name: string, n = 10): string[] {
  try {
    const text = readFileSync(logPath(lab, name), 'utf8').trimEnd();
    return text ? text.split('\n').slice(-n) : [];
  } catch (e) {
    return ifErrno(e, ABSENT, []);
  }
}

function reasonOf(lab: string, c: LabContainer, st: ContainerState | undefined): NotReady | undefined {
  const base = { name: c.name, exited: false, logTail: [] as string[] };
  if (!st || st.status === 'missing') return { ...base, reason: 'its namespaces are missing' };
  if (st.status === 'exited') return { ...base, exited: true, exitCode: st.state?.ExitCode, reason: `its command exited with code ${st.state?.ExitCode ?? '?'}`, logTail: logTail(lab, c.name) };
  if (st.status === 'restarting') return { ...base, reason: `its command exited with code ${st.state?.ExitCode ?? '?'} and is restarting`, logTail: logTail(lab, c.name) };
  if (!st.pid) return { ...base, reason: 'its command is starting' };
  if (st.health && st.health.Status !== 'healthy')
    return { ...base, reason: `its healthcheck is ${st.health.Status === 'starting' ? 'starting' : `unhealthy (${st.health.FailingStreak} failures in a row)`}`, logTail: logTail(lab, c.name) };
  const listening = listeningPorts(st.pid);
  const missing = [
    ...new Set(
      c.ports
        .filter((p) => p.proto === 'tcp')
        .flatMap(eachPort)
        .map((p) => p.containerPort),
    ),
  ].filter((p) => !listening.has(p));
  return missing.length > 0 ? { ...base, reason: `port ${missing.map((p) => `${p}/tcp`).join(', ')} not listening yet`, logTail: logTail(lab, c.name) } : undefined;
}

/**
 * Waits until the commands of `names` run and listen on their published TCP ports, or one has
 * exited, or `timeoutMs` passed. Returns those not ready (empty: all ready).
 */
export async function waitReady(share: StateFile, names: string[], timeoutMs: number): Promise<NotReady[]> {
  const containers = share.resolved.containers.filter((c) => names.includes(c.name) && c.command !== undefined);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = await statuses(share);
    const left = containers.flatMap((c) => reasonOf(share.lab, c, st.get(c.name)) ?? []);
    // An exited command will not start listening: the wait is for the others.
    if (left.every((l) => l.exited) || Date.now() >= deadline) return left;
    await new Promise((r) => setTimeout(r, 25));
  }
}
