/**
 * The embedded DNS at 127.0.0.11, asked by real resolvers inside the containers: dig, glibc
 * (getent, Python's getaddrinfo). Upstream queries go to a fake server in a namespace of the
 * test's own, so nothing leaves the machine.
 */
import { describe, expect, it } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { up, down, execIn, status } from '../../src/index.js';
import { resolverFiles, resolverPid } from '../../src/dns/lifecycle.js';
import { labDir } from '../../src/paths.js';
import { cli, uniqueLab } from '../helpers/kernel.js';
import { labsUndoneAfterEach } from '../helpers/api-labs.js';
import { markedProcesses } from '../helpers/marks.js';
import { tempDir } from '../helpers/tmp.js';

const UPSTREAM = fileURLToPath(new URL('../fixtures/dns-upstream.mjs', import.meta.url));
const { topology, cleanups } = labsUndoneAfterEach();

/** Runs a command in a container (ip netns exec: its /etc/netns files are its /etc). */
async function inCtr(lab: string, ctr: string, argv: string[]) {
  return execIn(lab, ctr, argv, { stdio: 'pipe' });
}

const dig = async (lab: string, ctr: string, ...args: string[]) => (await inCtr(lab, ctr, ['dig', '+time=3', '+tries=1', '@127.0.0.11', ...args])).stdout;
const digShort = async (lab: string, ctr: string, ...args: string[]) => (await dig(lab, ctr, '+short', ...args)).trim().split('\n').filter(Boolean);
const statusOf = (out: string) => /status: (\w+)/.exec(out)?.[1];

const namesLab = (_lab: string, firewall = 'iptables') => `
firewall: ${firewall}
networks:
  front: { subnet: 10.247.1.0/24 }
  back: { subnet: 10.247.2.0/24 }
  legacy: { subnet: 10.247.3.0/24, dns: false }
containers:
  web: { networks: { front: {}, back: { aliases: [api] } }, ip: { front: 10.247.1.10, back: 10.247.2.10 } }
  client: { networks: [front], ip: 10.247.1.20, links: ["web:site"] }
  db: { networks: { back: { aliases: [pg, api] } }, ip: 10.247.2.30, hostname: database }
  old: { networks: [legacy], ip: 10.247.3.40 }
  old2: { networks: [legacy], ip: 10.247.3.41 }
`;

describe('the embedded DNS at 127.0.0.11', () => {
  for (const firewall of ['iptables', 'nftables']) {
    it(`answers names, hostnames and aliases of containers on shared networks only, round robin, PTR, over UDP and TCP (${firewall})`, async () => {
      const lab = uniqueLab();
      await up({ topology: topology(lab, namesLab(lab, firewall)) });
      // Names on a shared network, by dig, glibc and Python.
      expect(await digShort(lab, 'client', 'web')).toEqual(['10.247.1.10']);
      expect(await digShort(lab, 'web', 'database')).toEqual(['10.247.2.30']);
      expect(await digShort(lab, 'web', 'pg')).toEqual(['10.247.2.30']);
      expect((await inCtr(lab, 'web', ['getent', 'hosts', 'database'])).stdout).toMatch(/^10\.247\.2\.30\s+database/);
      const py = await inCtr(lab, 'web', ['python3', '-c', "import socket; print(socket.getaddrinfo('db', 5432, socket.AF_INET)[0][4][0])"]);
      expect(py.stdout.trim()).toBe('10.247.2.30');
      // A name of another network: NXDOMAIN, and glibc finds nothing.
      expect(statusOf(await dig(lab, 'client', 'db'))).toBe('NXDOMAIN');
      expect(statusOf(await dig(lab, 'client', 'pg'))).toBe('NXDOMAIN');
      expect((await inCtr(lab, 'client', ['getent', 'hosts', 'db'])).exitCode).toBe(2);
      // The link alias: for the linking container only.
      expect(await digShort(lab, 'client', 'site')).toEqual(['10.247.1.10']);
      expect(statusOf(await dig(lab, 'web', 'site'))).toBe('NXDOMAIN');
      // Round robin: every holder of the alias, in turn first.
      const first = await digShort(lab, 'db', 'api');
      const second = await digShort(lab, 'db', 'api');
      expect([...first].sort()).toEqual(['10.247.2.10', '10.247.2.30']);
      expect([...second].sort()).toEqual(['10.247.2.10', '10.247.2.30']);
      expect(second[0]).not.toBe(first[0]);
      // PTR, and TCP.
      expect(await digShort(lab, 'web', '-x', '10.247.2.30')).toEqual(['db.back.']);
      expect(await digShort(lab, 'client', '+tcp', 'web')).toEqual(['10.247.1.10']);
      // The files: Docker's for a user-defined network, today's hosts-file names for dns: false.
      const resolv = (await inCtr(lab, 'web', ['cat', '/etc/resolv.conf'])).stdout;
      expect(resolv).toMatch(/^nameserver 127\.0\.0\.11$/m);
      expect(resolv).toMatch(/^# ExtServers: \[/m);
      const hosts = (await inCtr(lab, 'web', ['cat', '/etc/hosts'])).stdout;
      expect(hosts).not.toMatch(/\bdb\b|\bclient\b/);
      expect(hosts.trim().split('\n').at(-1)).toBe('10.247.1.10\tweb');
      expect((await inCtr(lab, 'client', ['cat', '/etc/hosts'])).stdout).toContain('10.247.1.10\tsite web\n');
      expect((await inCtr(lab, 'old', ['getent', 'hosts', 'old2'])).stdout).toMatch(/^10\.247\.3\.41\s+old2/);
      expect((await inCtr(lab, 'old', ['cat', '/etc/resolv.conf'])).stdout).not.toContain('127.0.0.11');
      expect(resolverFiles(lab).config).toSatisfy(existsSync);
    });
  }

  it("forwards other names to the container's upstream (also a loopback one, from the host's namespace), and gives SERVFAIL quickly when it is down", async () => {
    const lab = uniqueLab();
    const ns = `${lab}-up`;
    const hostIf = `${lab}u`.slice(0, 15);
    const run = (...a: string[]) => execa('ip', a);
    await run('netns', 'add', ns);
    cleanups.push(() => run('netns', 'del', ns));
    await run('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    cleanups.push(() => run('link', 'del', hostIf));
    await run('addr', 'add', '10.247.53.1/30', 'dev', hostIf);
    await run('link', 'set', hostIf, 'up');
    await run('-n', ns, 'addr', 'add', '10.247.53.2/30', 'dev', 'eth0');
    await run('-n', ns, 'link', 'set', 'eth0', 'up');
    const remote = await startUpstream(['ip', 'netns', 'exec', ns, process.execPath, UPSTREAM, '10.247.53.2', '192.0.2.77']);
    const _local = await startUpstream([process.execPath, UPSTREAM, '127.247.0.53', '192.0.2.88']);
    await up({
      topology: topology(
        lab,
        `networks:
  n: { subnet: 10.247.4.0/24 }
containers:
  a: { networks: [n], dns: [10.247.53.2], dnsSearch: [lab.test], dnsOptions: [ndots:1] }
  b: { networks: [n], dns: [127.247.0.53] }
`,
      ),
    });
    expect(await digShort(lab, 'a', 'www.example.test')).toEqual(['192.0.2.77']);
    expect(remote.seen()).toContain('www.example.test A');
    expect(statusOf(await dig(lab, 'a', 'missing.example.test'))).toBe('NXDOMAIN');
    expect(await digShort(lab, 'b', 'www.example.test')).toEqual(['192.0.2.88']);
    // The lab's own names never go upstream.
    expect(await digShort(lab, 'a', 'b')).toEqual(['10.247.4.3']);
    expect(remote.seen()).not.toMatch(/^b\.? A/m);
    const resolv = (await inCtr(lab, 'a', ['cat', '/etc/resolv.conf'])).stdout;
    expect(resolv).toContain('search lab.test\noptions ndots:1\n');
    expect(resolv).toContain('# ExtServers: [10.247.53.2]');
    expect((await inCtr(lab, 'b', ['cat', '/etc/resolv.conf'])).stdout).toContain('# ExtServers: [host(127.247.0.53)]');

    remote.child.kill();
    await remote.child.catch(() => undefined);
    const t0 = Date.now();
    expect(statusOf(await dig(lab, 'a', 'other.example.test'))).toBe('SERVFAIL');
    const ms = Date.now() - t0;
    expect(ms).toBeLessThan(2900);
    expect(ms).toBeGreaterThan(1500);
  });

  it('is a process of the lab: status reports it missing (drift), up brings it back, reloads it on a change and leaves it alone otherwise; down leaves nothing', async () => {
    const lab = uniqueLab();
    const body = `networks:
  n: { subnet: 10.247.5.0/24 }
containers:
  alpha: { networks: [n] }
  beta: { networks: [n] }
`;
    await up({ topology: topology(lab, body) });
    const pid = resolverPid(lab)!;
    expect(pid).toBeGreaterThan(1);
    expect(markedProcesses('NETLAB_DNS', lab).map((m) => m.pid)).toContain(pid);
    // Nothing changed: the same process.
    const again = await up({ topology: topology(lab, body) });
    expect(again.resolver?.action).toBe('none');
    expect(resolverPid(lab)).toBe(pid);
    // Killed: drift, then repaired.
    process.kill(pid, 'SIGKILL');
    await waitFor(() => resolverPid(lab) === undefined);
    const drift = await status(lab);
    expect(drift.inSync).toBe(false);
    expect(drift.resolver?.status).toBe('missing');
    const repaired = await up({ topology: topology(lab, body) });
    expect(repaired.resolver?.action).toBe('started');
    expect((await status(lab)).inSync).toBe(true);
    expect(await digShort(lab, 'alpha', 'beta')).toEqual(['10.247.5.3']);
    // A container added: reloaded (same pid), and the newcomer is known and served.
    const pid2 = resolverPid(lab)!;
    const grown = await up({ topology: topology(lab, `${body}  gamma: { networks: [n] }\n`) });
    expect(grown.resolver?.action).toBe('reloaded');
    expect(resolverPid(lab)).toBe(pid2);
    expect(await digShort(lab, 'gamma', 'alpha')).toEqual(['10.247.5.2']);
    // Removed again: its namespace goes (the resolver let go of its socket there first).
    const shrunk = await up({ topology: topology(lab, body) });
    expect(shrunk.resolver?.action).toBe('reloaded');
    // Its socket would keep the namespace, and its veth, alive: up would wait 5 s for the kernel to reap the veth.
    expect(shrunk.ms).toBeLessThan(4000);
    expect(existsSync(`/run/netns/netlab-${lab}-gamma`)).toBe(false);
    expect(statusOf(await dig(lab, 'alpha', 'gamma'))).toBe('NXDOMAIN');

    // Its pid file lost (a run killed between the start and the record): replaced, never doubled.
    const orphan = resolverPid(lab)!;
    rmSync(resolverFiles(lab).pid);
    expect((await status(lab)).resolver?.status).toBe('missing');
    expect((await up({ topology: topology(lab, body) })).resolver?.action).toBe('started');
    expect(markedResolvers(lab)).toEqual([resolverPid(lab)]);
    expect(resolverPid(lab)).not.toBe(orphan);
    expect(await digShort(lab, 'alpha', 'beta')).toEqual(['10.247.5.3']);

    const downed = await down({ lab });
    expect(downed.ms).toBeLessThan(4000);
    expect(resolverPid(lab)).toBeUndefined();
    expect(existsSync(`/proc/${pid2}`) && readFileSync(`/proc/${pid2}/cmdline`, 'latin1').includes('dns/server.js')).toBe(false);
    expect(existsSync(labDir(lab))).toBe(false);
  });

  it("resolves across the hosts of a multi-host lab (--simulate): each host's resolver knows the whole lab", async () => {
    const lab = uniqueLab();
    const dir = tempDir('dns');
    const file = join(dir, 'netlab.yaml');
    writeFileSync(
      file,
      `name: ${lab}
hosts:
  vm1: { underlay: 10.247.70.11 }
  vm2: { underlay: 10.247.70.12 }
networks:
  overlay: { subnet: 10.247.71.0/24, vxlan: { vni: 4247 } }
containers:
  alpha: { host: vm1, networks: { overlay: { aliases: [svc] } } }
  beta: { host: vm2, networks: [overlay] }
`,
    );
    cleanups.push(() => cli(['down', '-f', file]));
    const upped = await cli(['up', '--simulate', '-f', file]);
    expect(upped.exitCode, upped.all).toBe(0);
    const digIn = async (ctr: string, name: string) => (await cli(['exec', '-l', lab, ctr, '--', 'dig', '+short', '+time=3', '+tries=1', '@127.0.0.11', name])).stdout.trim();
    expect(await digIn('beta', 'alpha')).toBe('10.247.71.3');
    expect(await digIn('beta', 'svc')).toBe('10.247.71.3');
    expect(await digIn('alpha', 'beta')).toBe('10.247.71.4');
    const downed = await cli(['down', '-f', file]);
    expect(downed.exitCode, downed.all).toBe(0);
    expect(resolverPid(lab, 'vm1') ?? resolverPid(lab, 'vm2')).toBeUndefined();
  });

  it('serves 100 containers on one network, each resolving the others', async () => {
    const lab = uniqueLab();
    const n = 100;
    let body = 'networks:\n  big: { subnet: 10.247.8.0/24 }\ncontainers:\n';
    for (let i = 1; i <= n; i++) body += `  c${i}: { networks: [big] }\n`;
    await up({ topology: topology(lab, body) });
    // Every name, through glibc (getaddrinfo) in one container, and a sample of others asking.
    const script = `import socket, time
names = ['c%d' % i for i in range(1, ${n + 1})]
t = time.perf_counter()
ips = [socket.getaddrinfo(x, 80, socket.AF_INET)[0][4][0] for x in names]
print((time.perf_counter() - t) * 1000 / len(names))
print(' '.join(ips))`;
    for (const asker of ['c1', 'c50', 'c100']) {
      const r = await inCtr(lab, asker, ['python3', '-c', script]);
      expect(r.exitCode, r.stderr).toBe(0);
      const [msLine, ipsLine] = r.stdout.trim().split('\n');
      const ips = ipsLine!.split(' ');
      expect(new Set(ips).size).toBe(n);
      expect(ips[0]).toBe('10.247.8.2');
      const ms = Number(msLine);
      console.log(`100 containers: ${asker} resolved each name in ${ms.toFixed(2)} ms (getaddrinfo)`);
      expect(ms).toBeLessThan(5);
    }
  }, 180_000);
});

async function startUpstream(argv: string[]): Promise<{ child: ResultPromise; seen: () => string }> {
  const child = execa(argv[0]!, argv.slice(1), { reject: false, buffer: false });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  cleanups.push(async () => {
    child.kill();
    await child.catch(() => undefined);
  });
  await waitFor(() => out.includes('ready'));
  return { child, seen: () => out };
}

/** Pids of the processes that carry this lab's resolver mark. */
function markedResolvers(lab: string): number[] {
  return markedProcesses('NETLAB_DNS', lab).map((m) => m.pid);
}

async function waitFor(ok: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
