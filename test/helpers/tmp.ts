/**
 * Temp folders of a test file, `netlab-test-<run>-<what>-XXXXXX`, removed after the file's tests
 * also when they fail (vitest runs this hook after the file's own, which take its labs down). The
 * run id in the name lets the leak check (temp-leaks.ts) find this run's leftovers and no other's.
 */
import { afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runId } from './run-id.js';
import { mountsUnder } from './temp-leaks.js';

const made = new Set<string>();

/** A new folder; `parent`: another than the system's temp folder, e.g. /var/lib for one a container must see. */
export function tempDir(what: string, parent = tmpdir()): string {
  const dir = mkdtempSync(join(parent, `netlab-test-${runId()}-${what}-`));
  made.add(dir);
  return dir;
}

/**
 * Removes a temp folder. Mounts left in it (a lab's namespaces, which keep what they saw alive)
 * are unmounted first, deepest first, and reported: they are a leak of the code under test.
 */
export function removeTempDir(dir: string): void {
  made.delete(dir);
  const mounts = mountsUnder(dir);
  for (const target of [...mounts].reverse()) {
    try {
      execFileSync('umount', ['-l', target], { stdio: 'ignore' });
    } catch {}
  }
  rmSync(dir, { recursive: true, force: true });
  if (mounts.length > 0) throw new Error(`mounts were left in ${dir} (now unmounted):\n  ${mounts.join('\n  ')}`);
}

afterAll(() => {
  const errors: string[] = [];
  for (const dir of [...made]) {
    try {
      removeTempDir(dir);
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  if (errors.length > 0) throw new Error(errors.join('\n'));
});
