/**
 * The engine through its library API on real namespaces and rules: a second topology,
 * convergence, edits applied in place, a lost state file, foreign objects, repair.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { up, down, ps, execIn, parseTopology, ConflictError } from '../../src/index.js';
import { stateFile } from '../../src/paths.js';
import { curlIn, httpGet, sh, uniqueLab } from '../helpers/kernel.js';
import { freePorts } from '../helpers/ports.js';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

/** The tests' host ports, P to P + 11: a free range, as fixed ports collided when two runs shared a machine. */
const P = await freePorts(12);

const labs: string[] = [];
afterEach(async () => {
  for (const lab of labs.splice(0)) await down({ lab }).catch(() => undefined);
});

/** A topology from YAML text, taken down after the test. */
function topology(lab: string, body: string) {
  labs.push(lab);
  return parseTopology(body, { source: 'test.yaml', defaultName: lab });
}

const appLab = (lab: string, port: number, extra = '') =>
  topology(
    lab,
    `networks:
  backend: { subnet: 10.100.250.0/24 }
containers:
  db:
    ip: 10.100.250.10
    expose: [5432]
    env: { POSTGRES_PASSWORD: secret, HOME: /root }
    command: [netlab, serve, --port, "5432"]
  app:
    hostname: app.example.org
    links: ["db:database"]
    publish: ["127.0.0.1:${port}:8080"]
    env: { MODE: test }
    command: [netlab, serve, --port, "8080"]
${extra}`,
  );

describe('engine on the kernel', () => {
  it('builds a lab with static addresses, links and env, and its containers talk', async () => {
    const lab = uniqueLab();
    await up({ topology: appLab(lab, P + 0) });
    const env = (await execIn(lab, 'app', ['env'], { stdio: 'pipe' })).stdout;
    expect(env).toContain('DATABASE_PORT_5432_TCP_ADDR=10.100.250.10');
    expect(env).toContain('DATABASE_ENV_POSTGRES_PASSWORD=secret');
    expect(env).not.toContain('DATABASE_ENV_HOME');
    expect(env).toContain('MODE=test');
    expect((await execIn(lab, 'app', ['hostname'], { stdio: 'pipe' })).stdout.trim()).toBe('app.example.org');
    const hosts = (await execIn(lab, 'app', ['cat', '/etc/hosts'], { stdio: 'pipe' })).stdout;
    expect(hosts).toContain('10.100.250.10\tdatabase db\n');
    expect(hosts.trim().split('\n').at(-1)).toMatch(/^10\.100\.250\.2\tapp\.example\.org app$/);
    expect(await curlIn(`netlab-${lab}-app`, 'http://database:5432/whoami', { retryMs: 8000 })).toBe('10.100.250.2');
    expect(await httpGet(`http://127.0.0.1:${P + 0}/whoami`)).toBe('10.100.250.1\n');
  });

  it('converges: a second up changes nothing, and an edited file is applied in place', async () => {
    const lab = uniqueLab();
    const first = await up({ topology: appLab(lab, P + 1) });
    expect(first.ops.length).toBeGreaterThan(20);
    expect((await up({ topology: appLab(lab, P + 1) })).ops).toEqual([]);
    const dbPid = (await ps(lab)).find((r) => r.name === 'db')!.pid;

    // Add a container, change app's published port.
    const edited = await up({ topology: appLab(lab, P + 2, '  extra: { links: [db] }\n') });
    expect(edited.ops.some((o) => o.kind === 'netns.add' && o.ns === `netlab-${lab}-extra`)).toBe(true);
    expect(edited.ops.some((o) => o.kind === 'netns.del')).toBe(false);
    const rows = await ps(lab);
    expect(rows.find((r) => r.name === 'db')).toMatchObject({ ip: '10.100.250.10', pid: dbPid, status: 'running' });
    expect(rows.find((r) => r.name === 'extra')!.ip).toBe('10.100.250.3');
    expect(await httpGet(`http://127.0.0.1:${P + 2}/whoami`)).toBe('10.100.250.1\n');
    expect(
      await fetch(`http://127.0.0.1:${P + 1}/`, { signal: AbortSignal.timeout(1000) }).then(
        () => 'answered',
        () => 'refused',
      ),
    ).toBe('refused');

    // Remove it again: its namespace and veth go, the others stay untouched.
    const back = await up({ topology: appLab(lab, P + 2) });
    expect(back.ops.filter((o) => o.kind === 'netns.del').map((o) => (o as { ns: string }).ns)).toEqual([`netlab-${lab}-extra`]);
    expect((await sh('ip', ['netns', 'list'])).stdout).not.toContain(`netlab-${lab}-extra`);
    expect((await ps(lab)).find((r) => r.name === 'db')!.pid).toBe(dbPid);
  });

  it('repairs what was broken behind its back', async () => {
    const lab = uniqueLab();
    const built = await up({ topology: appLab(lab, P + 3) });
    const appVeth = built.lab.containers.find((c) => c.name === 'app')!.interfaces[0]!.hostVeth;
    await sh('ip', ['link', 'del', appVeth]);
    await sh('iptables', ['-t', 'nat', '-F', `NL-${lab}-DNAT`]);
    await sh('ip', ['-n', `netlab-${lab}-db`, 'route', 'del', 'default']);
    await sh('ip', ['netns', 'exec', `netlab-${lab}-db`, 'sysctl', '-qw', 'net.ipv6.conf.eth0.disable_ipv6=0']);
    const repair = await up({ topology: appLab(lab, P + 3) });
    expect(repair.ops.map((o) => o.kind)).toEqual(expect.arrayContaining(['veth.add', 'firewall.apply', 'route.replace', 'netns.sysctl']));
    for (const c of ['app', 'db']) expect((await sh('ip', ['netns', 'exec', `netlab-${lab}-${c}`, 'cat', '/proc/sys/net/ipv6/conf/eth0/disable_ipv6'])).stdout).toBe('1');
    expect(await httpGet(`http://127.0.0.1:${P + 3}/whoami`)).toBe('10.100.250.1\n');
    expect((await up({ topology: appLab(lab, P + 3) })).ops).toEqual([]);
  });

  it('names the /etc file it cannot write, and the next up finishes the lab once the obstacle is gone', async () => {
    const lab = uniqueLab();
    // A folder where the container's /etc/hostname goes (a file or link where netlab's own
    // folder goes is refused before any change: see test/e2e/ownership.test.ts).
    const etc = `/etc/netns/netlab-${lab}-app`;
    const obstacle = `${etc}/hostname`;
    mkdirSync(`${obstacle}/in-the-way`, { recursive: true });
    try {
      await expect(up({ topology: appLab(lab, P + 4) })).rejects.toThrow(`cannot write ${obstacle}`);
    } finally {
      rmSync(obstacle, { recursive: true, force: true });
    }
    const again = await up({ topology: appLab(lab, P + 4) });
    expect(again.ops.map((o) => o.kind)).toEqual(expect.arrayContaining(['file.write']));
    expect(again.ops.some((o) => o.kind === 'veth.add')).toBe(false);
    expect(readFileSync(obstacle, 'utf8')).toBe('app.example.org\n');
    expect(await httpGet(`http://127.0.0.1:${P + 4}/whoami`)).toBe('10.100.250.1\n');
    expect((await up({ topology: appLab(lab, P + 4) })).ops).toEqual([]);
  });

  it('takes a lab down by its kernel marks when the state file is gone', async () => {
    const lab = uniqueLab();
    await up({ topology: appLab(lab, P + 4) });
    rmSync(stateFile(lab));
    const r = await down({ lab });
    expect(r.ops.map((o) => o.kind)).toEqual(expect.arrayContaining(['process.stop', 'firewall.remove', 'link.del', 'netns.del', 'uts.del']));
    expect((await sh('ip', ['netns', 'list'])).stdout).not.toContain(`netlab-${lab}-`);
    expect((await sh('iptables-save', [])).stdout).not.toContain(`netlab:${lab}`);
  });

  it('refuses a lab whose bridge name is taken by something it did not create, and changes nothing', async () => {
    const lab = uniqueLab();
    const bridge = `tbr${lab}`;
    await sh('ip', ['link', 'add', bridge, 'type', 'bridge']);
    try {
      const topo = topology(lab, `networks:\n  n: { bridge: ${bridge} }\ncontainers:\n  a: {}\n`);
      await expect(up({ topology: topo })).rejects.toThrow(ConflictError);
      await expect(up({ topology: topo })).rejects.toThrow(/link .* \(no netlab mark\)/);
      expect((await sh('ip', ['netns', 'list'])).stdout).not.toContain(`netlab-${lab}-`);
      await down({ lab });
      expect((await sh('ip', ['link', 'show', bridge])).exitCode).toBe(0);
    } finally {
      await sh('ip', ['link', 'del', bridge]);
    }
  });

  it("never touches the user's own rules or another lab", async () => {
    const a = uniqueLab();
    const b = uniqueLab();
    const rule = ['-t', 'nat', '-A', 'POSTROUTING', '-s', '203.0.113.0/24', '-j', 'RETURN'];
    await sh('iptables', rule);
    try {
      await up({ topology: topology(a, `containers:\n  x: { publish: ["${P + 9}:80"] }\n`) });
      const before = (await sh('iptables-save', [])).stdout.split('\n').filter((l) => !l.startsWith('#') && !l.includes('netlab:') && !/^:.*\[\d+:\d+\]$/.test(l) && !l.startsWith(':NL-'));
      await up({ topology: topology(b, `containers:\n  y: { publish: ["${P + 10}:80"] }\n`) });
      await down({ lab: b });
      const after = (await sh('iptables-save', [])).stdout.split('\n').filter((l) => !l.startsWith('#') && !l.includes('netlab:') && !/^:.*\[\d+:\d+\]$/.test(l) && !l.startsWith(':NL-'));
      expect(after).toEqual(before);
      expect(after).toContain('-A POSTROUTING -s 203.0.113.0/24 -j RETURN');
      // Lab a is intact and got a different subnet from b.
      expect((await up({ topology: topology(a, `containers:\n  x: { publish: ["${P + 9}:80"] }\n`) })).ops).toEqual([]);
    } finally {
      await sh(
        'iptables',
        rule.map((x) => (x === '-A' ? '-D' : x)),
      );
    }
  });

  it('refuses a host port that is already listening, before changing anything', async () => {
    const lab = uniqueLab();
    const { createServer } = await import('node:net');
    const server = createServer().listen(P + 11, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      await expect(up({ topology: topology(lab, `containers:\n  x: { publish: ["${P + 11}:80"] }\n`) })).rejects.toThrow(
        new RegExp(`host port ${P + 11}/tcp is already in use on this host \\(a listening socket\\)`),
      );
      expect((await sh('ip', ['netns', 'list'])).stdout).not.toContain(`netlab-${lab}-`);
    } finally {
      server.close();
    }
  });

  it('refuses a subnet that another lab or a host route already has', async () => {
    const a = uniqueLab();
    const b = uniqueLab();
    await up({ topology: topology(a, 'networks:\n  n: { subnet: 10.100.251.0/24 }\ncontainers:\n  x: {}\n') });
    await expect(up({ topology: topology(b, 'networks:\n  n: { subnet: 10.100.251.128/25 }\ncontainers:\n  x: {}\n') })).rejects.toThrow(`networks.n.subnet: 10.100.251.128/25 overlaps lab ${a}`);
    const dummy = `td${b.slice(-6)}`;
    await sh('ip', ['link', 'add', dummy, 'type', 'bridge']); // any link with an address will do (no dummy driver everywhere)
    try {
      await sh('ip', ['addr', 'add', '10.100.252.1/24', 'dev', dummy]);
      await expect(up({ topology: topology(b, 'networks:\n  n: { subnet: 10.100.252.0/24 }\ncontainers:\n  x: {}\n') })).rejects.toThrow(
        /overlaps (the route to 10\.100\.252\.0\/24 dev|address 10\.100\.252\.1\/24 on) td/,
      );
    } finally {
      await sh('ip', ['link', 'del', dummy]);
    }
    expect((await sh('ip', ['netns', 'list'])).stdout).not.toContain(`netlab-${b}-`);
  });

  it('keeps the state file root-only', async () => {
    const lab = uniqueLab();
    await up({ topology: topology(lab, 'containers:\n  x: {}\n') });
    expect(statSync(stateFile(lab)).mode & 0o077).toBe(0);
    expect(JSON.parse(readFileSync(stateFile(lab), 'utf8')).lab).toBe(lab);
  });

  it('a converged up reads little but still sees drift: a file edited in place with its times put back, a deleted address, a flushed chain, an edited topology', async () => {
    const lab = uniqueLab();
    labs.push(lab);
    const dir = tempDir('drift');
    const file = join(dir, 'netlab.yaml');
    const body = (extra: string) => `name: ${lab}\nnetworks:\n  n: { subnet: 10.106.30.0/24 }\ncontainers:\n  a: { publish: ["22301:80"] }\n  b: {}\n${extra}`;
    try {
      writeFileSync(file, body(''));
      expect((await up({ file })).ops.length).toBeGreaterThan(0);
      expect((await up({ file })).ops).toEqual([]);
      // The stamps are kept in the state file, the /etc/hosts texts are not (they follow from the lab).
      const saved = JSON.parse(readFileSync(stateFile(lab), 'utf8'));
      expect(Object.keys(saved.stamps)).toContain(`/etc/netns/netlab-${lab}-a/hosts`);
      expect(saved.resolved.containers[0].files.hosts).toBeUndefined();
      expect((await ps(lab)).map((r) => r.name)).toEqual(['a', 'b']);

      // Same size, same inode, modification time put back: only the change time tells.
      const hosts = `/etc/netns/netlab-${lab}-a/hosts`;
      const before = statSync(hosts);
      const fd = openSync(hosts, 'r+');
      writeSync(fd, 'X', 0);
      closeSync(fd);
      utimesSync(hosts, before.atime, before.mtime);
      expect(statSync(hosts).size).toBe(before.size);
      const fixed = await up({ file });
      expect(fixed.ops).toEqual([expect.objectContaining({ kind: 'file.write', path: hosts })]);
      expect(readFileSync(hosts, 'utf8').startsWith('127.0.0.1')).toBe(true);
      expect((await up({ file })).ops).toEqual([]);

      // A file removed, an address deleted, a chain flushed: each seen by the next up.
      rmSync(`/etc/netns/netlab-${lab}-b/resolv.conf`);
      await sh('ip', ['-n', `netlab-${lab}-b`, 'addr', 'flush', 'dev', 'eth0']);
      await sh('iptables', ['-t', 'nat', '-F', `NL-${lab}-DNAT`]);
      const repair = await up({ file });
      expect(repair.ops.map((o) => o.kind)).toEqual(expect.arrayContaining(['file.write', 'addr.add', 'firewall.apply']));
      expect((await up({ file })).ops).toEqual([]);

      // An edited topology is parsed again (the cache is keyed on the text), and a broken one is refused every time.
      writeFileSync(file, body('  c: {}\n'));
      expect((await up({ file })).ops.map((o) => o.kind)).toContain('netns.add');
      expect((await up({ file })).ops).toEqual([]);
      writeFileSync(file, body('  d: { publish: ["99999:80"] }\n'));
      for (let i = 0; i < 2; i++) await expect(up({ file })).rejects.toThrow(/out of range/);
    } finally {
      removeTempDir(dir);
    }
  });
});
