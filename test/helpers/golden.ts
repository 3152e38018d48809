/** Golden files: a test compares its output with one; a missing file fails unless UPDATE_GOLDEN=1 (which rewrites them all). */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { expect } from 'vitest';
import { MONITOR_SCRIPT } from '../../src/kernel/monitor.js';

export function expectGolden(relPath: string, text: string): void {
  // The monitor script's path is where this checkout is; the golden files name an installed one.
  const actual = text.replaceAll(MONITOR_SCRIPT, '/opt/netlab/assets/monitor.sh');
  const path = new URL(`../golden/${relPath}`, import.meta.url);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, actual);
  if (!existsSync(path)) throw new Error(`golden file test/golden/${relPath} is missing: run the test with UPDATE_GOLDEN=1 to write it, and review it`);
  expect(actual).toBe(readFileSync(path, 'utf8'));
}
