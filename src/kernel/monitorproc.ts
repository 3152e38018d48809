/** A container's monitor process as others find and stop it: its script's path, and how to kill it with its forks. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GONE, ifErrno } from './errno.js';

export const MONITOR_SCRIPT = fileURLToPath(new URL('../../assets/monitor.sh', import.meta.url));

/**
 * Kills a monitor and its healthcheck loop (a fork of it, which would go on writing the health
 * of a container a new monitor now runs); the command it runs is left to the caller to stop.
 * Returns the processes signalled, for the caller to wait on: SIGKILL is not death yet.
 */
export function killMonitor(pid: number): number[] {
  let forks: number[] = [];
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    forks = children.filter((c) => readFileSync(`/proc/${c}/cmdline`, 'utf8').split('\0')[1] === MONITOR_SCRIPT);
  } catch (e) {
    ifErrno(e, GONE, undefined); // the monitor, or a child, exited meanwhile
  }
  for (const p of [pid, ...forks]) {
    try {
      process.kill(p, 'SIGKILL');
    } catch (e) {
      ifErrno(e, GONE, undefined);
    }
  }
  return [pid, ...forks];
}
