/**
 * A container's command: started detached inside its namespaces (network, UTS and mount, where
 * its /etc files, tmpfs and volumes are), output kept
 * in a log file for `netlab logs`, stopped with SIGTERM then SIGKILL.
 */
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { NETNS_DIR } from '../paths.js';
import type { ProcessSpec } from '../plan/state.js';
import { log } from '../log.js';
import { killMonitor } from './monitor.js';

/**
 * Pids of every process whose network namespace is one of `namespaces`, by namespace name.
 * Synchronous system calls: a few thousand small ones cost less than a thread-pool hop each.
 */
export async function pidsByNamespace(namespaces: string[]): Promise<Map<string, number[]>> {
  const byInode = new Map<string, string>();
  for (const ns of namespaces) {
    const s = statSync(join(NETNS_DIR, ns), { throwIfNoEntry: false });
    if (s) byInode.set(`net:[${s.ino}]`, ns);
  }
  const result = new Map<string, number[]>(namespaces.map((ns) => [ns, []]));
  if (byInode.size === 0) return result;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const ns = byInode.get(readlinkSync(`/proc/${pid}/ns/net`));
      if (ns) result.get(ns)!.push(Number(pid));
    } catch {
      /* exited meanwhile */
    }
  }
  return result;
}

/** The PATH netlab started with (or a fixed safe list): it finds the host programs netlab runs, never a container's. */
const HOST_PATH = process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The argv that runs `argv` inside a container, as `explain` also prints it: in its network,
 * UTS and mount namespaces (as `docker exec` joins them), in its working folder, as its user.
 * nsenter opens every namespace file before it enters any: the container's private /run hides
 * /run/netns and /run/netlab only once inside. The host programs that enter the container
 * (nsenter, setpriv, env) run with netlab's environment; `env` sets the container's variables
 * last, so the container's PATH (or LD_PRELOAD...) reaches only its own command.
 */
export function containerArgv(ns: string, uts: string, mnt: string, env: [string, string][], argv: string[], as: Pick<ProcessSpec, 'user' | 'workdir'> = {}): string[] {
  const user = as.user ? ['setpriv', `--reuid=${as.user.uid}`, `--regid=${as.user.gid}`, as.user.name ? '--init-groups' : '--clear-groups', '--'] : [];
  return ['nsenter', `--net=${join(NETNS_DIR, ns)}`, `--uts=${uts}`, `--mount=${mnt}`, `--wdns=${as.workdir ?? '/'}`, '--', ...user, 'env', ...env.map(([k, v]) => `${k}=${v}`), ...argv];
}

/** The environment of the host programs that enter a container: netlab's PATH, which the container's command also gets unless its env has one. */
export function hostProgramEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: HOST_PATH, ...extra };
}

/**
 * The variable that marks a container's command with the hash of its spec. It lets netlab vouch
 * for a command it has no record of: one started by the commands `explain` prints, or by a run
 * killed before it wrote its state file.
 */
export const SPEC_MARK = 'NETLAB_SPEC';

/** The spec hash a process carries in its environment, if it is one of netlab's commands. */
export function specMark(pid: number): string | undefined {
  try {
    const environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
    const entry = environ.split('\0').find((e) => e.startsWith(`${SPEC_MARK}=`));
    return entry?.slice(SPEC_MARK.length + 1);
  } catch {
    return undefined;
  }
}

/** Alive means neither gone nor a zombie: an exited child whose parent (sometimes an init that never reaps) has not collected it. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export async function stopProcesses(pids: number[], graceMs = 3000, monitor?: number): Promise<void> {
  const alive = isAlive;
  log().debug({ pids, monitor }, 'stopping');
  // The monitor first, or it would restart what is stopped.
  if (monitor) killMonitor(monitor);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
  const deadline = Date.now() + graceMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  for (const pid of pids.filter(alive)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}
