/**
 * Containers as Docker's: a mount namespace of their own (private /run, /tmp, /var/tmp, the
 * container's /etc files, tmpfs and volumes), in which the command, exec and shell run.
 * Real namespaces, real mounts; run under both link backends (NETLAB_BACKEND=iproute2).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { up, down, execIn, parseTopology, InputError } from '../../src/index.js';
import { uniqueLab } from '../helpers/kernel.js';
import { MONITOR_SCRIPT } from '../../src/kernel/monitor.js';
import { parseStamps } from '../../src/model/logtime.js';
import { containerFstab, mountScript } from '../../src/model/mounts.js';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

const labs: string[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const lab of labs.splice(0)) await down({ lab }).catch(() => undefined);
  for (const d of dirs.splice(0)) removeTempDir(d);
});

/** A folder for a topology file and its volumes, removed after the test. */
function labDir(): string {
  const d = tempDir('ctr');
  dirs.push(d);
  return d;
}

function topology(lab: string, dir: string, body: string) {
  labs.push(lab);
  return parseTopology(body, { source: join(dir, 'netlab.yaml'), defaultName: lab, dir });
}

const labMounts = (lab: string) =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(`/run/netlab/${lab}/`) || l.includes(`/run/netlab/${lab} `));
const run = async (lab: string, name: string, script: string, as: { user?: string } = {}) => (await execIn(lab, name, ['sh', '-c', script], { stdio: 'pipe', ...as })).stdout.trim();

describe('a container has a mount namespace of its own', () => {
  it('private /run, /tmp and /var/tmp, its own /etc files, tmpfs and volumes; exec joins it; down leaves no mount', async () => {
    const lab = uniqueLab();
    const dir = labDir();
    mkdirSync(join(dir, 'site'));
    writeFileSync(join(dir, 'site', 'index.html'), 'page of a\n');
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'app.conf'), 'conf of a\n');
    const topo = topology(
      lab,
      dir,
      `networks:
  n: { subnet: 10.246.10.0/24 }
containers:
  a:
    tmpfs: ["/var/log:size=1m"]
    volumes: ["./site:/tmp/www:ro", "${join(dir, 'data')}:/mnt", "./app.conf:/var/log/app/app.conf:ro"]
    workdir: /tmp/www
    command: "echo started > /run/mark; exec sleep 1000"
  b: { links: ["a:alias"] }
`,
    );
    await up({ topology: topo });
    // The command's /run is the one exec sees, and no other container's.
    expect(await run(lab, 'a', 'for i in 1 2 3 4 5 6 7 8 9 10; do [ -e /run/mark ] && break; sleep 0.2; done; cat /run/mark')).toBe('started');
    // netlab's own folder is bound back where a private /tmp would hide it (a clone under /tmp): not the container's files.
    const own = /^\/(?:var\/)?tmp\/([^/]+)/.exec(fileURLToPath(new URL('../..', import.meta.url)))?.[1] ?? '^$';
    expect(await run(lab, 'b', `ls -A /run /tmp /var/tmp | grep -v -e "^/" -e "^mount$" -e "^lock$" -e "^$" -e "^${own}$" | wc -l`)).toBe('0');
    await run(lab, 'b', 'echo b > /tmp/t');
    expect(await run(lab, 'a', 'cat /tmp/t 2>/dev/null || echo none')).toBe('none');
    // The host's /run is not the container's: its namespaces and netlab's folder are hidden inside.
    expect(await run(lab, 'a', '[ -e /run/netns ] || [ -e /run/netlab ] && echo host || echo private')).toBe('private');
    // /etc files are the container's, bound over the host's.
    expect(await run(lab, 'b', 'cat /etc/hostname; grep -c alias /etc/hosts')).toBe('b\n1');
    expect(readFileSync('/etc/hostname', 'utf8').trim()).not.toBe('b');
    // workdir, a read-only volume, a writable one, a sized tmpfs, the container's own sysfs.
    expect(await run(lab, 'a', 'pwd; cat index.html; touch x 2>/dev/null && echo writable || echo read-only')).toBe('/tmp/www\npage of a\nread-only');
    await run(lab, 'a', 'echo from-a > /mnt/f');
    expect(readFileSync(join(dir, 'data', 'f'), 'utf8')).toBe('from-a\n');
    expect(await run(lab, 'a', "df -k /var/log | awk 'NR==2 { print $2 }'")).toBe('1024');
    expect(await run(lab, 'a', 'ls /sys/class/net | sort | tr "\\n" " "')).toBe('eth0 lo');
    // The host's /var/log is untouched.
    expect(await run(lab, 'a', 'ls -A /var/log')).toBe('app');
    // A file volume whose mount point is missing under a tmpfs: a file is made there (not a folder), in a folder made for it.
    expect(await run(lab, 'a', 'cat /var/log/app/app.conf; echo x >> /var/log/app/app.conf 2>/dev/null && echo writable || echo read-only')).toBe('conf of a\nread-only');
    expect(labMounts(lab).length).toBeGreaterThan(0);
    await down({ lab });
    expect(labMounts(lab)).toEqual([]);
  });

  it("runs the command and exec as the container's user, with its HOME", async () => {
    const lab = uniqueLab();
    const dir = labDir();
    const topo = topology(lab, dir, `networks:\n  n: { subnet: 10.246.11.0/24 }\ncontainers:\n  a: { user: nobody, command: "id -un > /tmp/who; echo $HOME >> /tmp/who; exec sleep 1000" }\n`);
    await up({ topology: topo });
    expect(await run(lab, 'a', 'for i in 1 2 3 4 5 6 7 8 9 10; do [ -s /tmp/who ] && break; sleep 0.2; done; cat /tmp/who')).toBe('nobody\n/nonexistent');
    expect(await run(lab, 'a', 'id -un')).toBe('nobody');
    expect(await run(lab, 'a', 'id -un', { user: 'root' })).toBe('root');
  });

  it('refuses a volume whose host path is missing, naming its place in the file, before any change', async () => {
    const lab = uniqueLab();
    const dir = labDir();
    const topo = topology(lab, dir, `networks:\n  n: { subnet: 10.246.12.0/24 }\ncontainers:\n  a:\n    volumes:\n      - ./nothing:/srv\n`);
    const err = await up({ topology: topo }).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toMatch(/netlab\.yaml:6: containers\.a\.volumes\[0\]: host path .*\/nothing does not exist/);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(lab);
    const { existsSync } = await import('node:fs');
    expect(existsSync(`/run/netns/netlab-${lab}-a`)).toBe(false);
  });

  const iproute2 = process.env.NETLAB_BACKEND === 'iproute2';
  it(`makes each mount namespace with ${iproute2 ? 'three processes: unshare, its umount, one mount that replaces bash' : 'no process (netlink: in-process)'}`, async () => {
    const lab = uniqueLab();
    const dir = labDir();
    // Outside /tmp, /var/tmp and /run, which the new namespaces cover before they run their last mount.
    const bin = tempDir('path', '/var/lib');
    const calls = join(bin, 'calls');
    try {
      for (const tool of ['unshare', 'umount', 'mount']) {
        const real = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
        writeFileSync(join(bin, tool), `#!/bin/sh\necho "${tool} $*" >> ${calls}\nexec ${real} "$@"\n`, { mode: 0o755 });
      }
      const topo = topology(lab, dir, `networks:\n  n: { subnet: 10.133.14.0/24 }\ncontainers:\n  a: {}\n  b: {}\n  c: { command: "exec sleep 1000" }\n`);
      const path = process.env.PATH;
      process.env.PATH = `${bin}:${path}`;
      try {
        await up({ topology: topo });
      } finally {
        process.env.PATH = path;
      }
      const lines = existsSync(calls) ? readFileSync(calls, 'utf8').split('\n') : [];
      const count = (re: RegExp) => lines.filter((l) => re.test(l)).length;
      // A host whose /etc file is a symlink (systemd-resolved) or missing mounts the /etc files in a second pass.
      const passes = ['hosts', 'resolv.conf', 'hostname'].some((f) => spawnSync('sh', ['-c', `[ -L /etc/${f} ] || [ ! -e /etc/${f} ]`]).status === 0) ? 2 : 1;
      const expected = iproute2 ? [3, 3, 3 * passes] : [0, 0, 0];
      expect([count(/^unshare --mount=/), count(/^umount -l \/run\/netns /), count(/^mount --all /)]).toEqual(expected);
      if (!iproute2) expect(lines.filter((l) => /^(unshare|mount|umount) /.test(l))).toEqual([]);
      expect(await run(lab, 'b', 'cat /etc/hostname; findmnt -no FSTYPE /tmp')).toBe('b\ntmpfs');
    } finally {
      removeTempDir(bin);
    }
  });

  it("binds the /etc files over a host's resolv.conf that links into /run (systemd-resolved) in a second pass", () => {
    const dir = tempDir('etc', '/var/lib');
    try {
      mkdirSync(join(dir, 'netns'));
      for (const f of ['hosts', 'resolv.conf', 'hostname']) writeFileSync(join(dir, 'netns', f), `mine-${f}\n`);
      writeFileSync(join(dir, 'fstab'), containerFstab(join(dir, 'netns'), undefined));
      writeFileSync(join(dir, 'script'), `${mountScript(join(dir, 'fstab'), undefined).join('\n')}\n`);
      // A host of its own: /etc with resolv.conf a symlink into /run, in throwaway mount and network namespaces.
      const host = `mount -t tmpfs netlab-test /etc && ln -s /run/systemd/resolve/stub-resolv.conf /etc/resolv.conf && echo host > /etc/hosts && echo host > /etc/hostname`;
      const r = spawnSync(
        'unshare',
        ['-m', '-n', '--propagation', 'private', 'bash', '-c', `${host} && unshare -m --propagation private bash -c 'bash -e < ${dir}/script && cat /etc/resolv.conf /etc/hosts /etc/hostname'`],
        { encoding: 'utf8' },
      );
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('mine-resolv.conf\nmine-hosts\nmine-hostname\n');
    } finally {
      removeTempDir(dir);
    }
  });

  it('makes the mount namespace anew, and restarts the command, when its mounts change', async () => {
    const lab = uniqueLab();
    const dir = labDir();
    const body = (t: string) => `networks:\n  n: { subnet: 10.246.13.0/24 }\ncontainers:\n  a: { tmpfs: ["${t}"], command: "exec sleep 1000" }\n`;
    await up({ topology: topology(lab, dir, body('/var/log:size=1m')) });
    const again = await up({ topology: topology(lab, dir, body('/var/log:size=1m')) });
    expect(again.ops).toEqual([]);
    const changed = await up({ topology: topology(lab, dir, body('/var/log:size=2m')) });
    expect(changed.ops.map((o) => o.kind)).toEqual(expect.arrayContaining(['process.stop', 'mnt.del', 'mnt.add', 'process.start']));
    expect(await run(lab, 'a', "df -k /var/log | awk 'NR==2 { print $2 }'")).toBe('2048');
  });
});

describe("the monitor's log stamper", () => {
  /** The monitor run by hand on `command` (no restart, no healthcheck), with `times` as its fd 3 or none. */
  function monitor(dir: string, command: string, times: boolean) {
    const log = openSync(join(dir, 'c.log'), 'a');
    const fd3 = times ? openSync(join(dir, 'c.times'), 'a') : 'ignore';
    const r = spawnSync('/bin/sh', [MONITOR_SCRIPT, join(dir, 'c'), 'no', '0', '/nonexistent', '', '', 'sh', '-c', command], { stdio: ['ignore', log, log, fd3], timeout: 10_000 });
    closeSync(log);
    if (typeof fd3 === 'number') closeSync(fd3);
    return r;
  }

  it("writes the command's bytes as they are and each chunk's offset and time; without fd 3, a monitor as an older netlab started it, the log alone", async () => {
    const dir = labDir();
    mkdirSync(join(dir, 'c'));
    const before = Date.now() * 1000;
    expect(monitor(dir, 'echo one; echo two >&2; sleep 0.3; printf "x\\000y"', true).status).toBe(0);
    // The stamper ends when its pipe closes, just after the monitor.
    for (let i = 0; i < 50 && !readFileSync(join(dir, 'c.log'), 'latin1').endsWith('y'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(readFileSync(join(dir, 'c.log'), 'latin1')).toBe('one\ntwo\nx\0y');
    const stamps = parseStamps(readFileSync(join(dir, 'c.times'), 'latin1'));
    expect(stamps.length).toBeGreaterThanOrEqual(2);
    expect(stamps[0]!.offset).toBe(0);
    expect(stamps.at(-1)!.offset).toBe(8);
    expect(stamps[0]!.us).toBeGreaterThanOrEqual(before - 1000);
    expect(stamps.at(-1)!.us - stamps[0]!.us).toBeGreaterThanOrEqual(250_000);
    expect(readdirSync(join(dir, 'c')).sort()).toEqual(['state']);
    expect(monitor(dir, 'echo raw', false).status).toBe(0);
    expect(readFileSync(join(dir, 'c.log'), 'latin1')).toBe('one\ntwo\nx\0yraw\n');
    expect(existsSync(join(dir, 'c', 'out'))).toBe(false);
  });
});
