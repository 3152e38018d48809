/**
 * `stop`, `start`, `restart`: a container's command, as `docker stop|start|restart` do; its
 * namespaces and network stay. stop sends SIGTERM to the command, SIGKILL to every process of
 * the container after the grace time, and tells its monitor not to restart it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, NetlabError } from '../errors.js';
import { ctrDir, labDir, mntPath } from '../paths.js';
import { desiredState } from '../plan/desired.js';
import { isAlive, pidsByNamespace, stopProcesses } from '../kernel/processes.js';
import { monitorPid, readMonitorState, startMonitor, stoppedFlag } from '../kernel/monitor.js';
import { mountedMnt } from '../kernel/mnt.js';
import { requireContainer, statuses } from './query.js';
import { withHostLock } from './lock.js';
import { requireRoot } from './root.js';
import { SELF_ARGV } from './share.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await sleep(20);
  return done();
}

/** docker stop: SIGTERM, then after `timeS` seconds SIGKILL; the monitor records the exit and restarts nothing. */
export async function stopContainers(lab: string, names: string[], timeS = 10): Promise<void> {
  requireRoot('stop');
  await withHostLock('stop containers', async () => {
    for (const name of names) {
      const { container: c } = await requireContainer(lab, name);
      if (c.command === undefined) throw new InputError([{ path: name, message: `container "${name}" has no command to stop` }]);
      const dir = ctrDir(lab, name);
      const monitor = monitorPid(dir);
      writeFileSync(stoppedFlag(dir), '');
      const pid = monitor ? readMonitorState(dir)?.Pid : undefined;
      if (pid && isAlive(pid)) {
        process.kill(pid, 'SIGTERM');
        await waitFor(() => !isAlive(pid), timeS * 1000);
      }
      // Whatever is left in the container goes, as with Docker once its init has exited (a moment
      // for SIGTERM first: a shell form's sh dies at once and leaves its server running).
      const left = (await pidsByNamespace([c.netns])).inside.get(c.netns) ?? [];
      if (left.length > 0) await stopProcesses(left, 1000);
      if (monitor) await waitFor(() => monitorPid(dir) === undefined, 3000);
    }
  });
}

/** docker start: a stopped or exited command starts again under a new monitor; a running one is left alone. */
export async function startContainers(lab: string, names: string[]): Promise<void> {
  requireRoot('start');
  await withHostLock('start containers', async () => {
    for (const name of names) {
      const { share, container: c } = await requireContainer(lab, name);
      if (c.command === undefined) throw new InputError([{ path: name, message: `container "${name}" has no command to start` }]);
      const st = (await statuses(share)).get(name);
      if (st?.status === 'running' || st?.status === 'restarting') continue;
      if (st?.status === 'missing' || !mountedMnt(join(labDir(lab), 'mnt')).includes(mntPath(lab, name))) {
        throw new NetlabError(`container "${name}" is missing namespaces; run "netlab up" to repair the lab`);
      }
      const stale = monitorPid(ctrDir(lab, name));
      if (stale) await stopProcesses([], 0, stale);
      const p = desiredState(share.resolved, { selfArgv: SELF_ARGV }).processes[name]!;
      startMonitor({ dir: p.dir, ns: p.ns, uts: p.uts, mnt: p.mnt, log: p.log, spec: p.spec!, specHash: p.specHash!, mark: { lab, container: name, ...(c.host ? { host: c.host } : {}) } });
    }
  });
}

export async function restartContainers(lab: string, names: string[], timeS = 10): Promise<void> {
  await stopContainers(lab, names, timeS);
  await startContainers(lab, names);
}
