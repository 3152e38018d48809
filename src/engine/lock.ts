/**
 * One lock for every change netlab makes on the host. Labs share the host's subnets, ports and
 * the built-in firewall chains, so changes are serialized; a lock left by a killed run goes
 * stale after a few seconds and is taken over.
 */
import { mkdirSync } from 'node:fs';
import lockfile from 'proper-lockfile';
import { RUN_DIR } from '../paths.js';
import { NetlabError } from '../errors.js';

export async function withHostLock<T>(what: string, fn: () => Promise<T>): Promise<T> {
  // A simulated host's share runs while `up --simulate` holds the lock for the whole machine.
  if (process.env.NETLAB_HOST_LOCK_HELD === '1') return fn();
  mkdirSync(RUN_DIR, { recursive: true, mode: 0o755 });
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(RUN_DIR, {
      lockfilePath: `${RUN_DIR}/.lock`,
      stale: 5000,
      update: 1000,
      retries: { retries: 120, minTimeout: 100, maxTimeout: 500 },
      realpath: false,
    });
  } catch (e) {
    throw new NetlabError(`cannot ${what}: another netlab run holds ${RUN_DIR}/.lock (${(e as Error).message})`);
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}
