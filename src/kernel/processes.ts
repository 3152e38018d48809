/**
 * A container's command: started detached inside its namespaces (network, UTS and mount, where
 * its /etc files, tmpfs and volumes are), output kept
 * in a log file for `netlab logs`, stopped with SIGTERM then SIGKILL.
 */
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { NETNS_DIR } from '../paths.js';
import type { ProcessMark, ProcessSpec } from '../plan/state.js';
import { log } from '../log.js';
import { killMonitor } from './monitorproc.js';
import { GONE, ifErrno } from './errno.js';

/**
 * Pids of every process whose network namespace is one of `namespaces`, by namespace name; and
 * those of the processes in any other namespace but the host's that carry `mark`'s lab (and host
 * share) in their environment, by container: `strays` descend from no process in those namespaces
 * (a container's command left running in a namespace deleted by hand), `nested` do (a container's
 * own processes in a namespace of their own). Synchronous system calls: a few thousand small ones
 * cost less than a thread-pool hop each; only processes outside the lab's namespaces and the
 * host's have their environment read.
 */
export async function pidsByNamespace(
  namespaces: string[],
  mark?: Omit<ProcessMark, 'container'>,
): Promise<{ inside: Map<string, number[]>; strays: Map<string, number[]>; nested: Map<string, number[]> }> {
  const byInode = new Map<string, string>();
  for (const ns of namespaces) {
    const s = statSync(join(NETNS_DIR, ns), { throwIfNoEntry: false });
    if (s) byInode.set(`net:[${s.ino}]`, ns);
  }
  const inside = new Map<string, number[]>(namespaces.map((ns) => [ns, []]));
  const strays = new Map<string, number[]>();
  const nested = new Map<string, number[]>();
  if (byInode.size === 0 && !mark) return { inside, strays, nested };
  const host = readlinkSync('/proc/self/ns/net');
  const marked: { pid: number; container: string }[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const net = readlinkSync(`/proc/${pid}/ns/net`);
      const ns = byInode.get(net);
      if (ns) inside.get(ns)!.push(Number(pid));
      else if (mark && net !== host) {
        const m = processMark(Number(pid));
        if (m?.lab === mark.lab && m.host === mark.host) marked.push({ pid: Number(pid), container: m.container });
      }
    } catch (e) {
      ifErrno(e, GONE, undefined); // exited meanwhile
    }
  }
  // A process a container started in a namespace of its own (`unshare -n`) is still the container's.
  const ours = new Set([...inside.values()].flat());
  for (const { pid, container } of marked) {
    const into = ancestors(pid).some((p) => ours.has(p)) ? nested : strays;
    into.set(container, [...(into.get(container) ?? []), pid]);
  }
  return { inside, strays, nested };
}

/** The parents of a process, up to init (or as far as they can be read). */
function ancestors(pid: number): number[] {
  const out: number[] = [];
  for (let p = pid; out.length < 64; ) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      p = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch (e) {
      ifErrno(e, GONE, undefined); // a parent exited meanwhile
      break;
    }
    if (p <= 1) break;
    out.push(p);
  }
  return out;
}

/** The PATH netlab started with (or a fixed safe list): it finds the host programs netlab runs, never a container's. */
export const HOST_PATH = process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

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
/**
 * How long a lab's own helper process (its DNS resolver, its IPv6 loopback proxy) may take to
 * start and load its config: 5 s, more where the machine is slow (NETLAB_HELPER_WAIT_MS; emulated VMs).
 */
export const helperWaitMs = () => Number(process.env.NETLAB_HELPER_WAIT_MS) || 5000;

export const SPEC_MARK = 'NETLAB_SPEC';

/** The variables that mark a container's command (and all it starts) as the lab's: see processMark. */
export const LAB_MARK = 'NETLAB_LAB';
export const CONTAINER_MARK = 'NETLAB_CONTAINER';
export const HOST_MARK = 'NETLAB_HOST';

/** The marking variables of a container's command, set last (after the container's own). */
export function markEnv(mark: ProcessMark): [string, string][] {
  return [[LAB_MARK, mark.lab], [CONTAINER_MARK, mark.container], ...(mark.host === undefined ? [] : [[HOST_MARK, mark.host] as [string, string]])];
}

/** A process's environment variables netlab reads (its marks), or undefined when it cannot be read. */
function environ(pid: number): Map<string, string> | undefined {
  try {
    const vars = new Map<string, string>();
    for (const e of readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')) {
      if (!e.startsWith('NETLAB_')) continue;
      const eq = e.indexOf('=');
      vars.set(e.slice(0, eq), e.slice(eq + 1));
    }
    return vars;
  } catch (e) {
    return ifErrno(e, GONE, undefined);
  }
}

/** The spec hash a process carries in its environment, if it is one of netlab's commands. */
export function specMark(pid: number): string | undefined {
  return environ(pid)?.get(SPEC_MARK);
}

/** The lab, container and host share a process carries in its environment, if it is a container's. */
export function processMark(pid: number): ProcessMark | undefined {
  const vars = environ(pid);
  const lab = vars?.get(LAB_MARK);
  const container = vars?.get(CONTAINER_MARK);
  if (lab === undefined || container === undefined) return undefined;
  const host = vars!.get(HOST_MARK);
  return host === undefined ? { lab, container } : { lab, container, host };
}

/** Alive means neither gone nor a zombie: an exited child whose parent (sometimes an init that never reaps) has not collected it. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch (e) {
    return ifErrno(e, GONE, false);
  }
}

export async function stopProcesses(pids: number[], graceMs = 3000, monitor?: number | number[]): Promise<void> {
  const alive = isAlive;
  log().debug({ pids, monitor }, 'stopping');
  // The monitor first, or it would restart what is stopped; waited for with the rest.
  const monitors = [monitor ?? []].flat().flatMap(killMonitor);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch (e) {
      ifErrno(e, GONE, undefined);
    }
  }
  const deadline = Date.now() + graceMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  for (const pid of pids.filter(alive)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (e) {
      ifErrno(e, GONE, undefined);
    }
  }
  const killed = [...pids, ...monitors];
  const end = Date.now() + 2000;
  while (killed.some(alive) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}
