/**
 * The netlink backend's in-process mount namespace (kernel/mntns.ts) on a throwaway host: its
 * own /run and /etc, resolv.conf a symlink into /run (systemd-resolved), a read-only volume.
 * The throwaway's namespace is made on one CPU and netlab runs on another, both ways round: on
 * Linux 6.18 one of the two numbers the container's namespace below the throwaway's
 * (kernel/mntorder.ts). A file of its own: it runs in a fresh worker, apart from other labs.
 */
import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { fstabFileOf } from '../../src/kernel/mnt.js';
import { containerFstab, mountScript } from '../../src/model/mounts.js';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** [the throwaway host's CPU, netlab's CPU]; on a machine of one CPU, that one. */
const PLACEMENTS: [string, string][] =
  availableParallelism() > 1
    ? [
        ['0', '1'],
        ['1', '0'],
      ]
    : [['0', '0']];
const CASES = (['in-process', 'iproute2'] as const).flatMap((how) => PLACEMENTS.map(([host, netlab]) => [how, host, netlab] as const));

/** The code that makes the namespace, run by node in the throwaway host: the netlink backend's, or the iproute2 backend's script under unshare(1). */
function maker(how: 'in-process' | 'iproute2', m: { path: string; ns: string; fstab: string; volumes: string[]; hash: string; script: string[] }): string {
  const module = (name: string) => JSON.stringify(join(ROOT, `dist/kernel/${name}.js`));
  if (how === 'in-process') return `const { addMntsInProcess } = await import(${module('mntns')}); await addMntsInProcess([${JSON.stringify(m)}]);`;
  return `const { addMnt } = await import(${module('mnt')}); await addMnt(${JSON.stringify(m.path)}, ${JSON.stringify(m.ns)}, ${JSON.stringify(m.script)}, ${JSON.stringify(m.fstab)}, 'h');`;
}

describe('a mount namespace made in a throwaway host', () => {
  it.each(CASES)("%s: over a host's resolv.conf that links into /run, with a volume from under /tmp read-only (host on CPU %s, netlab on CPU %s)", (how, hostCpu, netlabCpu) => {
    const dir = tempDir('etc', '/var/lib');
    try {
      const vol = join(dir, 'vol');
      mkdirSync(vol);
      writeFileSync(join(vol, 'f'), 'vol\n');
      const runtime = { volumes: [{ source: vol, target: '/tmp/data', readOnly: true }], tmpfs: [] } as unknown as Parameters<typeof containerFstab>[1];
      const path = '/run/netlab/t/mnt/a';
      const m = { path, ns: 'netlab-test', fstab: containerFstab('/etc/netns/netlab-test', runtime), volumes: [vol], hash: 'h', script: mountScript(fstabFileOf(path), runtime) };
      writeFileSync(join(dir, 'make.mjs'), maker(how, m));
      // A host of its own in throwaway mount namespaces: /run and /etc tmpfs, resolv.conf a symlink into /run, a network namespace bound there.
      const host = [
        // The host's namespace files this throwaway copied (other labs up meanwhile), dropped before a tmpfs hides them from the template's clean-up (no real host hides them).
        // One a lab's `down` unlinks on the host meanwhile is detached here by the kernel, between awk's read and its umount.
        `for m in $(awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i + 1) == "nsfs") print $5; break } }' /proc/self/mountinfo); do umount -l "$m" 2>/dev/null || true; done`,
        'mount -t tmpfs netlab-test /run && mount -t tmpfs netlab-test /etc',
        'ln -s /run/systemd/resolve/stub-resolv.conf /etc/resolv.conf && echo host > /etc/hosts && echo host > /etc/hostname',
        'mkdir -p /etc/netns/netlab-test && for f in hosts resolv.conf hostname; do echo mine-$f > /etc/netns/netlab-test/$f; done',
        'ip netns add netlab-test',
        `taskset -c ${netlabCpu} ${process.execPath} ${join(dir, 'make.mjs')}`,
        "nsenter --mount=/run/netlab/t/mnt/a sh -c 'cat /etc/resolv.conf /etc/hosts /etc/hostname /tmp/data/f; touch /tmp/data/g 2>/dev/null || echo ro; findmnt -no SOURCE /run | tail -1'",
      ].join(' && ');
      // Without NODE_EXTRA_CA_CERTS, whose file this /etc hides.
      const { NODE_EXTRA_CA_CERTS: _, ...env } = process.env;
      const r = spawnSync('taskset', ['-c', hostCpu, 'unshare', '-m', '--propagation', 'private', 'bash', '-c', host], { encoding: 'utf8', env });
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('mine-resolv.conf\nmine-hosts\nmine-hostname\nvol\nro\nnetlab-tmpfs\n');
    } finally {
      removeTempDir(dir);
    }
  });
});
