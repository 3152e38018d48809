/** The fstab of a container read back as mount(2) calls (kernel/fstab.ts), and the mounts a template drops (kernel/mntns.ts). */
import { describe, expect, it } from 'vitest';
import { mountOptions, parseFstab } from '../../src/kernel/fstab.js';
import { namespaceHolders } from '../../src/kernel/mntns.js';
import { containerFstab } from '../../src/model/mounts.js';
import type { ContainerRuntime } from '../../src/topology/runtime.js';

describe('fstab options as mount(2) takes them', () => {
  it('splits flags from the file system data, as mount(8) does', () => {
    expect(mountOptions('X-mount.mkdir,mode=1777,nosuid,nodev,noexec,size=5m')).toEqual({ flags: 2 | 4 | 8, data: 'mode=1777,size=5m', bind: false, mkdir: true, etc: false });
    expect(mountOptions('ro,nosuid,nodev,noexec')).toMatchObject({ flags: 1 | 2 | 4 | 8, data: '' });
  });

  it('lets a later option undo an earlier one, and ignores what only mount(8) reads', () => {
    expect(mountOptions('ro,rw,noexec,exec,defaults,nofail,x-systemd.after=a').flags).toBe(0);
    expect(mountOptions('bind,X-netlab.etc')).toMatchObject({ flags: 0, data: '', bind: true, etc: true });
  });

  it('passes what it does not know to the file system (which refuses what it does not know either)', () => {
    expect(mountOptions('size=1m,uid=1000,constructor,toString').data).toBe('size=1m,uid=1000,constructor,toString');
  });

  it("reads a container's fstab back, with its escapes, volumes and /etc lines", () => {
    const runtime = {
      volumes: [{ source: '/srv/my data', target: '/data dir', readOnly: true, at: { path: 'x' } }],
      tmpfs: [{ target: '/var/cache', options: 'size=1m' }],
    } as unknown as ContainerRuntime;
    const mounts = parseFstab(containerFstab('/etc/netns/n', runtime));
    expect(mounts.map((m) => [m.source, m.target, m.fstype])).toEqual([
      ['netlab-sysfs', '/sys', 'sysfs'],
      ['netlab-tmpfs', '/run', 'tmpfs'],
      ['netlab-tmpfs', '/tmp', 'tmpfs'],
      ['/proc/self/fd/10', '/data dir', 'none'],
      ['netlab-tmpfs', '/var/tmp', 'tmpfs'],
      ['netlab-tmpfs', '/run/lock', 'tmpfs'],
      ['netlab-tmpfs', '/var/cache', 'tmpfs'],
      ['/etc/netns/n/hosts', '/etc/hosts', 'none'],
      ['/etc/netns/n/resolv.conf', '/etc/resolv.conf', 'none'],
      ['/etc/netns/n/hostname', '/etc/hostname', 'none'],
    ]);
    expect(mounts.find((m) => m.target === '/data dir')).toMatchObject({ bind: true, flags: 1, mkdir: true, etc: false });
    expect(mounts.filter((m) => m.etc).length).toBe(3);
  });
});

describe('the template drops the mounts that hold namespaces', () => {
  const line = (id: number, target: string, fstype: string) => `${id} 1 0:4 / ${target} rw shared:1 - ${fstype} ${fstype} rw`;
  it('drops /run/netns, the labs mount folders and every nsfs, parents first; keeps the rest of /run', () => {
    const info = [
      line(1, '/', 'ext4'),
      line(2, '/run', 'tmpfs'),
      line(3, '/run/user/1000', 'tmpfs'),
      line(4, '/run/netns/netlab-x-a', 'nsfs'),
      line(5, '/run/netns', 'tmpfs'),
      line(6, '/run/netlab/x/mnt', 'ext4'),
      line(7, '/run/netlab/x/mnt/a', 'nsfs'),
      line(8, '/run/netlab/x/uts/a', 'nsfs'),
      line(9, '/run/docker/netns/abc\\040def', 'nsfs'),
    ].join('\n');
    expect(namespaceHolders(info)).toEqual(['/run/netns', '/run/netlab/x/mnt', '/run/netlab/x/mnt/a', '/run/netlab/x/uts/a', '/run/netns/netlab-x-a', '/run/docker/netns/abc def']);
  });

  it('drops the folder the new namespaces are bound in, wherever it is (a namespace may not hold its own file)', () => {
    const info = [line(1, '/', 'ext4'), line(2, '/srv/labs/x/mnt', 'ext4'), line(3, '/srv/other', 'ext4')].join('\n');
    expect(namespaceHolders(info, new Set(['/srv/labs/x/mnt']))).toEqual(['/srv/labs/x/mnt']);
  });
});
