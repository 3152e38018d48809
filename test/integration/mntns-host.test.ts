/**
 * The netlink backend's in-process mount namespace (kernel/mntns.ts) on a throwaway host: its
 * own /run and /etc, resolv.conf a symlink into /run (systemd-resolved), a read-only volume.
 * A file of its own: it runs in a fresh worker, apart from the labs other files bring up.
 */
import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { containerFstab } from '../../src/model/mounts.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('a mount namespace made in-process', () => {
  it("makes a namespace in-process over a host's resolv.conf that links into /run, and binds a volume from under /tmp read-only", () => {
    const dir = mkdtempSync('/var/lib/netlab-test-etc-');
    try {
      const vol = join(dir, 'vol');
      mkdirSync(vol);
      writeFileSync(join(vol, 'f'), 'vol\n');
      const runtime = { volumes: [{ source: vol, target: '/tmp/data', readOnly: true }], tmpfs: [] } as unknown as Parameters<typeof containerFstab>[1];
      const m = { path: '/run/netlab/t/mnt/a', ns: 'netlab-test', fstab: containerFstab('/etc/netns/netlab-test', runtime), volumes: [vol], hash: 'h', script: [] };
      const make = `const { addMntsInProcess } = await import(${JSON.stringify(join(ROOT, 'dist/kernel/mntns.js'))}); await addMntsInProcess([${JSON.stringify(m)}]);`;
      // A host of its own in throwaway mount namespaces: /run and /etc tmpfs, resolv.conf a symlink into /run, a network namespace bound there.
      const host = [
        // The host's namespace files this throwaway copied (other labs up meanwhile), dropped before a tmpfs hides them from the template's clean-up (no real host hides them).
        `for m in $(awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i + 1) == "nsfs") print $5; break } }' /proc/self/mountinfo); do umount -l "$m"; done`,
        'mount -t tmpfs netlab-test /run && mount -t tmpfs netlab-test /etc',
        'ln -s /run/systemd/resolve/stub-resolv.conf /etc/resolv.conf && echo host > /etc/hosts && echo host > /etc/hostname',
        'mkdir -p /etc/netns/netlab-test && for f in hosts resolv.conf hostname; do echo mine-$f > /etc/netns/netlab-test/$f; done',
        'ip netns add netlab-test',
        `${process.execPath} --input-type=module -e '${make}'`,
        "nsenter --mount=/run/netlab/t/mnt/a sh -c 'cat /etc/resolv.conf /etc/hosts /etc/hostname /tmp/data/f; touch /tmp/data/g 2>/dev/null || echo ro; findmnt -no SOURCE /run | tail -1'",
      ].join(' && ');
      // Without NODE_EXTRA_CA_CERTS, whose file this /etc hides.
      const { NODE_EXTRA_CA_CERTS: _, ...env } = process.env;
      const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'bash', '-c', host], { encoding: 'utf8', env });
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('mine-resolv.conf\nmine-hosts\nmine-hostname\nvol\nro\nnetlab-tmpfs\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
