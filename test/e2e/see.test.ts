/**
 * The "see how it works" commands through the built CLI: doctor with a planted miss, explain
 * and graph without root, progress on stdout and structured logs on stderr, --json and --dry-run.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { chmodSync, existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, cli, httpGet, uniqueLab } from '../helpers/kernel.js';
import { onPath, PROGRAMS } from '../../src/kernel/probe.js';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

const dir = tempDir('see');
chmodSync(dir, 0o755); // explain and graph run as a user in it
const lab = uniqueLab();
writeFileSync(
  join(dir, 'netlab.yaml'),
  `name: ${lab}
networks:
  net: { subnet: 10.103.30.0/24 }
containers:
  web: { publish: ["20030:80"], command: [netlab, serve, --port, "80"] }
  client-with-a-long-name: { links: ["web:a-rather-long-link-alias"] }
`,
);

afterAll(async () => {
  await cli(['down', '-q'], { cwd: dir });
  removeTempDir(dir);
});

describe('doctor', () => {
  it('reports a program missing from PATH with the package that provides it, and exits 1', async () => {
    const bin = tempDir('path');
    try {
      for (const p of PROGRAMS) {
        const path = await onPath(p);
        if (path && !p.startsWith('iptables')) symlinkSync(path, join(bin, p));
      }
      const env = { PATH: bin, NETLAB_LOG_LEVEL: 'warn' };
      const json = await execa(process.execPath, [CLI, 'doctor', '--json'], { cwd: dir, reject: false, env, extendEnv: false });
      expect(json.exitCode).toBe(1);
      const report = JSON.parse(json.stdout);
      expect(report.ok).toBe(false);
      expect(report.checks.find((c: { id: string }) => c.id === 'program:iptables')).toMatchObject({ status: 'fail', fix: 'apt-get install iptables' });
      const text = await execa(process.execPath, [CLI, 'doctor'], { cwd: dir, reject: false, env, extendEnv: false });
      expect(text.stdout).toMatch(/FAIL {2}iptables is not on PATH.*\n {6}fix: apt-get install iptables/);
    } finally {
      removeTempDir(bin);
    }
  });

  it('passes on this host, checking the kernel features by making each in a scratch namespace', async () => {
    const r = await cli(['doctor', '--json'], { cwd: dir });
    const report = JSON.parse(r.stdout);
    expect(report.checks.filter((c: { status: string }) => c.status === 'fail')).toEqual([]);
    expect(r.exitCode).toBe(0);
    for (const f of ['netns', 'veth', 'bridge', 'vxlan']) expect(report.checks.find((c: { id: string }) => c.id === `kernel:${f}`).message).toContain('scratch namespace');
    expect(report.checks.find((c: { id: string }) => c.id === 'subnets').message).toContain('10.103.30.0/24');
    expect((await execa('ip', ['netns', 'list'])).stdout).not.toContain('nldoctor-');
  });
});

describe('explain and graph need no root', () => {
  const asNobody = (args: string[]) => execa(process.execPath, [CLI, ...args], { cwd: dir, reject: false, uid: 65534, gid: 65534, env: { HOME: '/tmp' } });

  it('explains the lab as a user', async () => {
    const r = await asNobody(['explain']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('this is what -p 20030:80 becomes');
    expect(r.stdout).toContain(`ip -n netlab-${lab}-web addr add 10.103.30.2/24 brd + dev eth0`);
    const json = JSON.parse((await asNobody(['explain', '--json'])).stdout);
    expect(json.sections.map((s: { subject: { kind: string } }) => s.subject.kind)).toEqual([
      'host',
      'network',
      'container',
      'container',
      'firewall',
      'dns',
      ...(existsSync('/proc/sys/net/ipv6') ? ['proxy'] : []),
    ]);
  });

  it("explains a multi-host lab as a user: each host's share, one host, or the whole simulation", async () => {
    const file = fileURLToPath(new URL('../../examples/multihost.yaml', import.meta.url));
    const all = await asNobody(['explain', '-f', file]);
    expect(all.exitCode, all.stderr).toBe(0);
    expect(all.stdout).toContain('# on vm1 (underlay 192.168.56.11)');
    expect(all.stdout).toContain('# on vm2 (underlay 192.168.56.12)');
    expect(all.stdout).toMatch(/^bridge fdb append 00:00:00:00:00:00 dev nlvx\w+ dst 192\.168\.56\.12$/m);
    const vm2 = await asNobody(['explain', '-f', file, '--host', 'vm2']);
    expect(vm2.stdout).not.toContain('# on vm1 (');
    expect(vm2.stdout).toMatch(/^ovs-vsctl add-port nlov\w+ nlvp\w+ -- set interface nlvp\w+ type=vxlan options:remote_ip=192\.168\.56\.11 /m);
    const sim = await asNobody(['explain', '-f', file, '--simulate']);
    expect(sim.stdout).toMatch(/^ip netns add netlab-multihost-host-vm1$/m);
    expect(sim.stdout).toContain('ovs-daemons.sh start');
    const json = JSON.parse((await asNobody(['explain', '-f', file, '--simulate', '--json'])).stdout);
    expect(json.hosts.map((h: { host: string }) => h.host)).toEqual(['vm1', 'vm2']);
    expect(json.hosts[0].sections.map((s: { subject: { kind: string } }) => s.subject.kind)).toContain('overlay');
    const bad = await asNobody(['explain', '-f', file, '--host', 'vm9']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('unknown host "vm9"');
  });

  it('draws it as a user, in every format', async () => {
    expect((await asNobody(['graph', '--format', 'dot'])).stdout).toMatch(/^graph netlab \{/);
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await asNobody(['--version'])).toMatchObject({ exitCode: 0, stdout: version });
    expect((await asNobody(['graph', '--format', 'mermaid'])).stdout).toContain('flowchart LR');
    const svg = await asNobody(['graph']);
    expect(svg.exitCode).toBe(0);
    expect(svg.stdout).toContain('<svg');
  });
});

describe('up and down: progress on stdout, logs on stderr', () => {
  it('shows each step, logs every kernel operation with its time as JSON on stderr, and never mixes them', async () => {
    const r = await cli(['up', '--log-level', 'debug', '--log-format', 'json'], { cwd: dir });
    expect(r.exitCode, r.all).toBe(0);
    const out = r.stdout.split('\n').filter(Boolean);
    expect(out.some((l) => l.startsWith('{'))).toBe(false);
    // The files, the firewall and (made in-process by the netlink backend) the hostnames go beside the links.
    // The files (and, made in-process by the netlink backend, the hostnames) go beside the links; the firewall has its own line.
    const beside = process.env.NETLAB_BACKEND === 'iproute2' ? '6 /etc files' : '6 /etc files and 2 hostnames';
    expect(out).toContain(out.find((l) => new RegExp(`^links: 2 namespaces, 1 bridge, 2 veth pairs, \\d+ settings; ${beside} beside \\(\\d+ ms\\)$`).test(l)));
    expect(out.some((l) => /^firewall: \d+ rules in one iptables-restore transaction \(\d+ ms\)$/.test(l))).toBe(true);
    expect(out.some((l) => /^2 mount namespaces \(private \/run/.test(l))).toBe(true);
    if (process.env.NETLAB_BACKEND === 'iproute2') expect(out.some((l) => /^2 hostnames \(a UTS namespace each\) \(\d+ ms\)$/.test(l))).toBe(true);
    expect(out.some((l) => l.startsWith(`lab ${lab} is up`))).toBe(true);
    const logs = r.stderr
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg: string; ms?: number; cmd?: string; op?: string; hostMs?: number });
    // The link batch is one `ip -batch` under iproute2, or in-process rtnetlink messages under the netlink backend.
    const linkBatch =
      process.env.NETLAB_BACKEND === 'iproute2'
        ? (l: (typeof logs)[number]) => l.msg === 'exec' && !!l.cmd?.startsWith('ip -batch') && typeof l.ms === 'number'
        : (l: (typeof logs)[number]) => l.msg === 'netlink' && typeof l.hostMs === 'number';
    expect(logs.some(linkBatch)).toBe(true);
    for (const kind of ['sysctl.set', 'file.write', 'uts.add', 'firewall.apply', 'process.start'])
      expect(logs.some((l) => l.msg === 'applied' && l.op === kind && typeof l.ms === 'number')).toBe(true);
    expect(await httpGet('http://127.0.0.1:20030/whoami')).toBe('10.103.30.1\n');
  });

  it('keeps ps narrow, draws the live lab, and gives JSON where a script wants it', async () => {
    const ps = (await cli(['ps'], { cwd: dir })).stdout;
    // Docker's own words ("Up Less than a second") stay whole: PORTS and LINKS are cut to fit 80 columns.
    expect(ps.split('\n').every((l) => l.length <= 80)).toBe(true);
    expect(JSON.parse((await cli(['ps', '--json'], { cwd: dir })).stdout).map((c: { name: string }) => c.name)).toEqual(['web', 'client-with-a-long-name']);
    const live = (await cli(['graph', '--format', 'dot'], { cwd: dir })).stdout;
    expect(live).toContain('(live: as it is up)');
    expect(live).toContain('10.103.30.2/24');
    const again = JSON.parse((await cli(['up', '--json'], { cwd: dir })).stdout);
    expect(again).toMatchObject({ lab, changes: 0, ops: [] });
  });

  it('prints what down would do with --dry-run and changes nothing; then takes it down', async () => {
    const dry = await cli(['down', '--dry-run'], { cwd: dir });
    expect(dry.stdout).toContain(`ip netns del netlab-${lab}-web`);
    expect(dry.stdout).toContain('iptables-restore -w --noflush');
    expect(await httpGet('http://127.0.0.1:20030/whoami')).toBe('10.103.30.1\n');
    const down = JSON.parse((await cli(['down', '--json'], { cwd: dir })).stdout);
    expect(down.changes).toBeGreaterThan(10);
    expect(down.ops.map((o: { kind: string }) => o.kind)).toContain('netns.del');
    expect((await cli(['down', '--dry-run'], { cwd: dir })).stdout.trim()).toBe('# nothing to change');
  });
});
