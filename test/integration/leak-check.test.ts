/** The leak check sees what a throwaway host's labs leave: mounts in its run folder keep network namespaces alive. */
import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { netlabObjects } from '../helpers/leak-check.js';
import { testHostId } from '../helpers/kernel.js';

describe('leak check', () => {
  it("lists a UTS namespace left bound in a throwaway host's run folder, and the folder", async () => {
    const dir = `/run/netlab-test-host-${testHostId()}`;
    const file = `${dir}/lab/uts/web`;
    mkdirSync(`${dir}/lab/uts`, { recursive: true });
    writeFileSync(file, '');
    try {
      const made = await execa('unshare', [`--uts=${file}`, 'true'], { reject: false, all: true });
      expect(made.exitCode, made.all).toBe(0);
      const seen = netlabObjects();
      expect(seen).toContain(`mount ${file}`);
      expect(seen).toContain(dir);
    } finally {
      await execa('umount', [file], { reject: false });
      rmSync(dir, { recursive: true, force: true });
    }
    expect(netlabObjects().filter((o) => o.includes(dir))).toEqual([]);
  });
});
