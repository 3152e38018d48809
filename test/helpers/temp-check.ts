/**
 * Runs once around the unit tests: at the end fails the run if a test left a temp file or folder
 * of this run (temp-leaks.ts). The kernel tests check the same in leak-check.ts.
 */
import { runId } from './run-id.js';
import { tempLeftovers } from './temp-leaks.js';

export function setup(): void {
  runId();
}

export function teardown(): void {
  const left = tempLeftovers(runId());
  if (left.length > 0) {
    // vitest only logs an error of a global teardown ("error during close"): the exit code says it.
    process.exitCode = 1;
    throw new Error(`the tests left temp files:\n  ${left.join('\n  ')}`);
  }
}
