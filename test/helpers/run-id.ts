import { randomBytes } from 'node:crypto';

/**
 * This test run's id (`t` and 4 hex digits): set once by a project's global setup and inherited by
 * its test workers. Lab names, throwaway hosts and temp folders carry it, so that the leak check
 * judges only this run's leftovers while other runs share the machine.
 */
export function runId(): string {
  process.env.NETLAB_TEST_RUN ??= `t${randomBytes(2).toString('hex')}`;
  return process.env.NETLAB_TEST_RUN;
}
