import { describe, expect, it } from 'vitest';
import { onlineCpus, REFUSED_BIND } from '../../src/kernel/mntorder.js';

describe("the CPUs unshare(1) is tried on where the kernel refused a namespace's id", () => {
  it("reads the kernel's list of online CPUs, ranges and single ones", () => {
    expect(onlineCpus('0\n')).toEqual([0]);
    expect(onlineCpus('0-3\n')).toEqual([0, 1, 2, 3]);
    expect(onlineCpus('0-1,4,6-7\n')).toEqual([0, 1, 4, 6, 7]);
  });

  it("knows unshare(1)'s words for a refused bind, and no other failure", () => {
    expect(REFUSED_BIND.test('unshare: mount /proc/20631/ns/mnt on /run/netlab/t/mnt/a failed: Invalid argument\n')).toBe(true);
    expect(REFUSED_BIND.test('unshare: mount /proc/20631/ns/mnt on /run/netlab/t/mnt/a failed: Permission denied\n')).toBe(false);
    expect(REFUSED_BIND.test('mount: /tmp/x: mount point does not exist.\n')).toBe(false);
  });
});
