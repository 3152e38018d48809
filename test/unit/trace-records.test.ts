/** The records a trace leaves for the next netlab run: which ones it may act on. */
import { expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir('records');
process.env.NETLAB_RUN_DIR = dir;

it('only the records of dead netlab runs in this network namespace are stale', async () => {
  const { staleRecords, ownNetns, tracesDir } = await import('../../src/trace/marks.js');
  mkdirSync(tracesDir(), { recursive: true });
  // pids above the kernel's pid_max (2^22) cannot be running.
  const dead = (pid: number, hostNetns: number) => writeFileSync(join(tracesDir(), `${pid}.json`), JSON.stringify({ pid, lab: 'x', tables: [], hostNetns }));
  dead(5_000_001, ownNetns());
  dead(5_000_002, ownNetns() + 1);
  writeFileSync(join(tracesDir(), `${process.ppid}.json`), JSON.stringify({ pid: process.ppid, lab: 'x', tables: [], hostNetns: ownNetns() }));
  expect(staleRecords().map((r) => r.pid)).toEqual([5_000_001]);
});
