/** `exec`: run a program inside a container, as `docker exec` does: its namespaces, env, user and folder. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, NetlabError } from '../errors.js';
import { labDir, mntPath, NETNS_DIR, utsPath } from '../paths.js';
import { containerArgv, hostProgramEnv } from '../kernel/processes.js';
import { mountedMnt } from '../kernel/mnt.js';
import { containerEnvOf, processSpec } from '../plan/desired.js';
import { lookupUser, type ContainerRuntime } from '../topology/runtime.js';
import { requireContainer } from './query.js';
import { requireRoot } from './root.js';

export interface ExecOptions {
  stdio?: 'inherit' | 'pipe';
  /** docker exec -u: a user of the host's passwd (name, uid, name:group); default the container's `user`. */
  user?: string;
  /** docker exec -w: default the container's `workdir`, else /. */
  workdir?: string;
  /** docker exec -e VAR=value. */
  env?: string[];
  /** docker exec -t: a terminal is allocated (TERM passed on; netlab uses the caller's own terminal). */
  tty?: boolean;
}

export async function execIn(lab: string, name: string, argv: string[], opts: ExecOptions = {}): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  requireRoot('exec');
  const { container: c } = await requireContainer(lab, name);
  if (!existsSync(join(NETNS_DIR, c.netns))) throw new NetlabError(`container "${name}" has no network namespace ${c.netns}; run "netlab up" to repair the lab`);
  if (!mountedMnt(join(labDir(lab), 'mnt')).includes(mntPath(lab, name))) throw new NetlabError(`container "${name}" has no mount namespace; run "netlab up" to repair the lab`);
  const user = opts.user ?? c.runtime?.user;
  if (user !== undefined && !lookupUser(user)) throw new InputError([{ path: '--user', message: `no user "${user}" in this host's /etc/passwd` }]);
  if (opts.workdir !== undefined && !opts.workdir.startsWith('/')) throw new InputError([{ path: '--workdir', message: `"${opts.workdir}" must be an absolute path` }]);
  const runtime: ContainerRuntime = { tmpfs: [], volumes: [], restart: { policy: 'no' }, user, workdir: opts.workdir ?? c.runtime?.workdir };
  const env = new Map(containerEnvOf({ ...c, runtime }));
  // The caller's terminal type wins over the container's: it describes the terminal exec runs on (docker exec -t sets xterm).
  if (opts.tty || process.env.TERM) env.set('TERM', process.env.TERM ?? 'xterm');
  // Likewise the caller's language, or a UTF-8 one: without LANG a shell and its tools fall back to ASCII.
  if (!env.has('LANG')) env.set('LANG', process.env.LANG || 'C.UTF-8');
  for (const kv of opts.env ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new InputError([{ path: '--env', message: `"${kv}" is not VAR=value` }]);
    env.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  const spec = processSpec(argv, [], [], runtime);
  const [file, ...args] = containerArgv(c.netns, utsPath(lab, name), mntPath(lab, name), [...env], argv, spec);
  const stdio = opts.stdio ?? 'inherit';
  return new Promise((resolve, reject) => {
    const child = spawn(file!, args, { stdio: stdio === 'inherit' ? 'inherit' : ['ignore', 'pipe', 'pipe'], env: hostProgramEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    // The terminal's Ctrl-C reaches the child too; netlab waits for it to finish.
    const ignore = () => undefined;
    process.on('SIGINT', ignore);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      process.off('SIGINT', ignore);
      resolve({ exitCode: code ?? (signal ? 128 + 2 : 1), stdout, stderr });
    });
  });
}
