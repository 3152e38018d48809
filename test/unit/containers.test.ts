/** The pure parts of containers: runtime keys, the fstab and mount script, Docker's status words. */
import { describe, expect, it } from 'vitest';
import { parseTopology } from '../../src/topology/load.js';
import { parseRestart, type ContainerRuntime } from '../../src/topology/runtime.js';
import { containerFstab, mountScript } from '../../src/model/mounts.js';
import { dockerStatus, humanDuration } from '../../src/model/humanize.js';
import { InputError } from '../../src/errors.js';

const parse = (body: string) => parseTopology(body, { source: '/labs/x/netlab.yaml', defaultName: 'x', dir: '/labs/x' });
const errorOf = (body: string) => {
  try {
    parse(body);
  } catch (e) {
    if (e instanceof InputError) return e.message;
    throw e;
  }
  return '';
};

describe('runtime keys', () => {
  it('reads tmpfs, volumes (relative to the file), user, workdir and restart as Docker writes them', () => {
    const c = parse(
      'containers:\n  a:\n    tmpfs: ["/var/log/x", "/cache:size=16m"]\n    volumes: ["./site:/var/www/html:ro", "/srv/data:/data"]\n    user: root\n    workdir: /srv\n    restart: on-failure:2\n',
    ).containers[0]!;
    expect(c.runtime).toMatchObject({
      tmpfs: [
        { target: '/var/log/x', options: 'mode=1777,nosuid,nodev' },
        { target: '/cache', options: 'size=16m' },
      ],
      volumes: [
        { source: '/labs/x/site', target: '/var/www/html', readOnly: true, at: { path: 'containers.a.volumes[0]', line: 4 } },
        { source: '/srv/data', target: '/data', readOnly: false },
      ],
      user: 'root',
      workdir: '/srv',
      restart: { policy: 'on-failure', maxRetries: 2 },
    });
  });

  it('names the place of each bad value', () => {
    const msg = errorOf('containers:\n  a:\n    tmpfs: ["relative"]\n    volumes: ["data:/x", "./a:b", "./a:/b:rx"]\n    user: "no such user here"\n    restart: sometimes\n');
    expect(msg).toContain('netlab.yaml:3: containers.a.tmpfs[0]: "relative": the target must be an absolute path');
    expect(msg).toContain('containers.a.volumes[0]: "data" looks like a named volume');
    expect(msg).toContain('containers.a.volumes[1]: "b": the container path must be absolute');
    expect(msg).toContain('containers.a.volumes[2]: "rx": the mode must be ro or rw');
    expect(msg).toContain('containers.a.user: "no such user here" is not a user');
    expect(msg).toContain('netlab.yaml:6: containers.a.restart: "sometimes" is not a restart policy');
    expect(errorOf('containers:\n  a: { user: nobodyatall }\n')).toContain('no user "nobodyatall" in this host\'s /etc/passwd');
  });

  it('refuses a tmpfs option that tmpfs would refuse at mount time, before any change', () => {
    const msg = errorOf('containers:\n  a:\n    tmpfs: ["/c:size=1m,bogus=1", "/d:size=lots", "/e:mode=999", "/f:noexec,constructor"]\n');
    expect(msg).toContain('netlab.yaml:3: containers.a.tmpfs[0]: "bogus=1" is not a tmpfs mount option');
    expect(msg).toContain('containers.a.tmpfs[1]: "size=lots" is not a tmpfs mount option');
    expect(msg).toContain('containers.a.tmpfs[2]: "mode=999" is not a tmpfs mount option');
    expect(msg).toContain('containers.a.tmpfs[3]: "constructor" is not a tmpfs mount option');
    expect(errorOf('containers:\n  a:\n    tmpfs: ["/c:size=16m,mode=1777,uid=0,gid=0,nr_inodes=1k,noexec,nosuid,nodev,ro"]\n')).toBe('');
  });

  it("healthcheck: Docker's test forms, Go durations, defaults", () => {
    const h = (y: string) => parse(`containers:\n  a:\n    healthcheck: ${y}\n`).containers[0]!.runtime?.health;
    expect(h('{ test: ["CMD", "curl", "-f", "http://localhost/a b"], interval: 1m30s, start_period: 500ms }')).toEqual({
      shell: "curl -f 'http://localhost/a b'",
      intervalMs: 90_000,
      timeoutMs: 30_000,
      retries: 3,
      startPeriodMs: 500,
    });
    expect(h('{ test: ["CMD-SHELL", "test -e /x"], retries: 5 }')).toMatchObject({ shell: 'test -e /x', retries: 5 });
    expect(h('{ test: ["NONE"] }')).toBeUndefined();
    expect(h('{ test: "true", disable: true }')).toBeUndefined();
    expect(errorOf('containers:\n  a:\n    healthcheck: { test: ["RUN", "x"] }\n')).toContain('containers.a.healthcheck.test: must be a string, ["CMD", program, args...]');
    expect(errorOf('containers:\n  a:\n    healthcheck: { test: "true", interval: soon }\n')).toContain('containers.a.healthcheck.interval: "soon" is not a duration');
  });

  it('restart policies', () => {
    const bad = () => {
      throw new Error('bad');
    };
    expect(parseRestart(undefined, bad)).toEqual({ policy: 'no' });
    expect(parseRestart('always', bad)).toEqual({ policy: 'always' });
    expect(parseRestart('on-failure', bad)).toEqual({ policy: 'on-failure', maxRetries: 0 });
    expect(() => parseRestart('on-failure:x', bad)).toThrow('bad');
  });
});

describe('the mount namespace as text', () => {
  const runtime: ContainerRuntime = {
    tmpfs: [{ target: '/tmp/cache', options: 'size=1m' }],
    volumes: [{ source: '/tmp/site', target: '/var/www', readOnly: true, at: { path: '' } }],
    restart: { policy: 'no' },
  };

  it('mounts parents before children, volumes from their open descriptors, the /etc files last', () => {
    const fstab = containerFstab('/etc/netns/n', runtime).trim().split('\n');
    const targets = fstab.map((l) => l.split(' ')[1]);
    expect(targets).toEqual(['/sys', '/run', '/tmp', '/var/tmp', '/run/lock', '/tmp/cache', '/var/www', '/etc/hosts', '/etc/resolv.conf', '/etc/hostname']);
    expect(fstab).toContain('/proc/self/fd/10 /var/www none bind,X-mount.mkdir,ro 0 0');
    expect(fstab.at(-1)).toBe('/etc/netns/n/hostname /etc/hostname none bind,X-netlab.etc 0 0');
  });

  it('opens the fstab and the volumes before anything hides them, and drops inherited namespace files', () => {
    const script = mountScript('/run/netlab/l/mnt/a.fstab', runtime);
    expect(script.slice(0, 3)).toEqual(['exec 9< /run/netlab/l/mnt/a.fstab', 'exec 10< /tmp/site', 'umount -l /run/netns /run/netlab/*/mnt /run 2>/dev/null || true']);
    // One mount replaces bash; a second pass (the /etc files) only where one of them is a symlink or missing.
    expect(script.at(-1)).toBe('exec mount --all --no-canonicalize --fstab /proc/self/fd/9 $etc');
    expect(script.filter((l) => l.trim().startsWith('mount --all'))).toEqual(['  mount --all --no-canonicalize --fstab /proc/self/fd/9 -O noX-netlab.etc']);
  });
});

describe("Docker's status words", () => {
  it('says durations as go-units does', () => {
    expect([0, 1000, 45_000, 61_000, 3_000_000, 3_600_000, 7_200_000, 3 * 86_400_000].map(humanDuration)).toEqual([
      'Less than a second',
      '1 second',
      '45 seconds',
      'About a minute',
      '50 minutes',
      'About an hour',
      '2 hours',
      '3 days',
    ]);
  });

  it('Up, Exited (code) ago, Restarting, Created', () => {
    const now = Date.parse('2026-01-01T00:10:00Z');
    const s = { Status: 'running', ExitCode: 0, StartedAt: '2026-01-01T00:07:00Z', FinishedAt: '0001-01-01T00:00:00Z' };
    expect(dockerStatus(s, now)).toBe('Up 3 minutes');
    expect(dockerStatus({ ...s, Status: 'exited', ExitCode: 1, FinishedAt: '2026-01-01T00:09:55Z' }, now)).toBe('Exited (1) 5 seconds ago');
    expect(dockerStatus({ ...s, Status: 'restarting', ExitCode: 3, FinishedAt: '2026-01-01T00:09:58Z' }, now)).toBe('Restarting (3) 2 seconds ago');
    expect(dockerStatus({ ...s, Status: 'exited' }, now)).toBe('Created');
  });
});
