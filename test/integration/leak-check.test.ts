/** The leak check sees what a run leaves: mounts in a throwaway host's run folder, temp folders and mounts in them. */
import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { netlabObjects } from '../helpers/leak-check.js';
import { testHostId } from '../helpers/kernel.js';
import { runId } from '../helpers/run-id.js';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

/** Binds a new UTS namespace on `file` (made empty), as netlab keeps a container's. */
async function bindUts(file: string): Promise<void> {
  writeFileSync(file, '');
  const made = await execa('unshare', [`--uts=${file}`, 'true'], { reject: false, all: true });
  expect(made.exitCode, made.all).toBe(0);
}

describe('leak check', () => {
  it("lists a UTS namespace left bound in a throwaway host's run folder, and the folder", async () => {
    const dir = `/run/netlab-test-host-${testHostId()}`;
    const file = `${dir}/lab/uts/web`;
    mkdirSync(`${dir}/lab/uts`, { recursive: true });
    try {
      await bindUts(file);
      const seen = netlabObjects();
      expect(seen).toContain(`mount ${file}`);
      expect(seen).toContain(dir);
    } finally {
      await execa('umount', [file], { reject: false });
      rmSync(dir, { recursive: true, force: true });
    }
    expect(netlabObjects().filter((o) => o.includes(dir))).toEqual([]);
  });

  it("lists a temp folder this run left (made without the tmp helper, as a careless test would), a mount in it, and not another run's", async () => {
    const left = mkdtempSync(join(tmpdir(), `netlab-test-${runId()}-forgotten-`));
    const lab = join(tmpdir(), `netlab-${runId()}ab12cd.yaml`);
    const otherRun = mkdtempSync(join(tmpdir(), `netlab-test-t${runId() === 'tffff' ? 'fffe' : 'ffff'}-theirs-`));
    // A run folder named without the run id, holding a lab of this run (explain-replay's NETLAB_RUN_DIR before it had one).
    const runDir = mkdtempSync(join(tmpdir(), 'netlab-run-'));
    const file = join(left, 'uts');
    const deep = join(runDir, `${runId()}ab12cd`, 'uts');
    try {
      writeFileSync(lab, 'containers: { a: {} }\n');
      mkdirSync(join(runDir, `${runId()}ab12cd`));
      await bindUts(file);
      await bindUts(deep);
      const seen = netlabObjects();
      expect(seen).toContain(`temp ${left}`);
      expect(seen).toContain(`temp ${lab}`);
      expect(seen).toContain(`mount ${file}`);
      expect(seen).toContain(`mount ${deep}`);
      expect(seen.filter((o) => o.includes(otherRun) || o === `temp ${runDir}`)).toEqual([]);
    } finally {
      for (const target of [file, deep]) await execa('umount', [target], { reject: false });
      for (const p of [left, lab, otherRun, runDir]) rmSync(p, { recursive: true, force: true });
    }
    expect(netlabObjects().filter((o) => o.startsWith('temp ') || o.includes(tmpdir()))).toEqual([]);
  });

  it('the temp helper unmounts a namespace left bound in its folder, removes the folder and reports the mount', async () => {
    const dir = tempDir('mounted');
    const file = join(dir, 'lab', 'uts');
    mkdirSync(join(dir, 'lab'));
    try {
      await bindUts(file);
      expect(() => removeTempDir(dir)).toThrow(`mounts were left in ${dir} (now unmounted):\n  ${file}`);
      expect(netlabObjects().filter((o) => o.includes(dir))).toEqual([]);
    } finally {
      await execa('umount', [file], { reject: false });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
