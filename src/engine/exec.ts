/** `exec`: run a program inside a container, as `docker exec` does, with its env, hostname and /etc files. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NetlabError } from '../errors.js';
import { NETNS_DIR, utsPath } from '../paths.js';
import { containerArgv, hostProgramEnv } from '../kernel/processes.js';
import { requireContainer } from './query.js';
import { requireRoot } from './root.js';

export async function execIn(lab: string, name: string, argv: string[], opts: { stdio?: 'inherit' | 'pipe' } = {}): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  requireRoot('exec');
  const { container: c } = await requireContainer(lab, name);
  if (!existsSync(join(NETNS_DIR, c.netns))) throw new NetlabError(`container "${name}" has no network namespace ${c.netns}; run "netlab up" to repair the lab`);
  // The caller's terminal type wins over the container's: it describes the terminal exec runs on.
  const env: [string, string][] = [['HOSTNAME', c.hostname], ...c.env, ...(process.env.TERM ? [['TERM', process.env.TERM] as [string, string]] : [])];
  const [file, ...args] = containerArgv(c.netns, utsPath(lab, name), env, argv);
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
