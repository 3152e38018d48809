/**
 * What a test run left in the file system: files and folders named netlab* in the temp folder and
 * /var/lib/netlab-test-* that carry the run's id, and mounts in them. No vitest here: the global
 * setups (outside any test file) use it too.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Parents of test temp folders: the system's, and /var/lib for folders a container must see (its own /tmp hides the host's). */
export const TEMP_PARENTS = [tmpdir(), '/var/lib'];

/** Whether a name under a temp parent is a test's or netlab's, and carries the run id `run`. */
export function isRunTemp(parent: string, name: string, run: string): boolean {
  const netlabs = parent === '/var/lib' ? name.startsWith('netlab-test-') : name.startsWith('netlab');
  return netlabs && name.includes(run);
}

/** The run's temp files and folders, then the mounts under them (`temp PATH`, `mount PATH`). */
export function tempLeftovers(run: string): string[] {
  const roots = TEMP_PARENTS.flatMap((parent) =>
    existsSync(parent)
      ? readdirSync(parent)
          .filter((n) => isRunTemp(parent, n, run))
          .map((n) => join(parent, n))
      : [],
  );
  // Also a mount deeper in another netlab* temp folder under a path of this run's (a lab's folder in a run folder).
  const inNetlabTemp = (t: string) => TEMP_PARENTS.some((p) => t.startsWith(`${p}/netlab`)) && t.includes(run);
  const mounts = mountTargets().filter((t) => inNetlabTemp(t) || roots.some((r) => t === r || t.startsWith(`${r}/`)));
  return [...roots.map((r) => `temp ${r}`), ...mounts.map((t) => `mount ${t}`)];
}

/** The mount points under a folder (the folder itself included), in mount order. */
export function mountsUnder(dir: string): string[] {
  return mountTargets().filter((t) => t === dir || t.startsWith(`${dir}/`));
}

function mountTargets(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((t) => t !== '')
    .map((t) => t.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}
