/**
 * explain can be trusted: its printed commands, run by bash in a fresh simulated host (a
 * throwaway network namespace that netlab treats as the host), build what `netlab up`
 * builds: netlab then finds nothing to change, the kernel state equals the one `netlab up`
 * makes, and the lab works for real. Each lab of LABS gets the same treatment; the multi-host
 * example (issue 4) gets `explain --simulate`: the script makes the simulated hosts too, and
 * every host's kernel and Open vSwitch state is compared with what `up --simulate` builds.
 *
 * The simulated host is entered with `nsenter --net` rather than `ip netns exec`: it keeps
 * the host's mount namespace, as a student's shell has, so the UTS namespaces that the script
 * bind-mounts stay visible to the netlab runs that follow. It has its own netlab run folder
 * (NETLAB_RUN_DIR), as a separate machine would: its own lock and state, and no other lab's
 * ports (the real host's demo lab holds 8080 only in the real host).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CLI, curlIn, sh, uniqueLab } from '../helpers/kernel.js';
import { netlabObjects } from '../helpers/leak-check.js';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

interface LabCase {
  name: string;
  /** Topology text, or undefined for the built-in demo lab. */
  yaml?: string;
  /** Also build it with `netlab up` in a second simulated host and compare the kernel state. */
  compareWithUp: boolean;
  /** Checks that the lab works: run after the script built it. */
  works: (lab: string, hostNs: string) => Promise<void>;
}

const LABS: LabCase[] = [
  {
    name: 'the demo lab',
    compareWithUp: false,
    works: async (lab, hostNs) => {
      expect(await curlIn(hostNs, 'http://127.0.0.1:8080/', { retryMs: 8000 })).toContain('Welcome to netlab!');
      expect(await curlIn(`netlab-${lab}-client`, 'http://web/', { retryMs: 3000 })).toContain('Welcome to netlab!');
      expect(await curlIn(`netlab-${lab}-client`, 'http://webalias/whoami')).toMatch(/^172\.\d+\.\d+\.3$/);
    },
  },
  {
    name: 'a lab with two networks, icc off, udp, a loopback binding and static addresses',
    yaml: `networks:
  front: { subnet: 10.103.20.0/24 }
  back: { subnet: 10.103.21.0/24, icc: false, mtu: 1400 }
containers:
  db:
    networks: [back]
    ip: 10.103.21.10
    expose: [5432]
    command: [netlab, serve, --port, "5432"]
  app:
    networks: [front, back]
    hostname: app.example.org
    links: ["db:database"]
    publish: ["127.0.0.1:20010:8080", "20011:53/udp"]
    command: "echo app starting; exec sleep infinity"
  edge:
    networks: [front]
    publish: ["20012:80"]
    command: [netlab, serve, --port, "80"]
`,
    compareWithUp: true,
    works: async (lab, hostNs) => {
      expect(await curlIn(hostNs, 'http://127.0.0.1:20012/whoami', { retryMs: 8000 })).toBe('10.103.20.1');
      expect(await curlIn(`netlab-${lab}-app`, 'http://database:5432/whoami', { retryMs: 8000 })).toBe('10.103.21.2');
      expect(await curlIn(`netlab-${lab}-app`, 'http://edge/whoami')).toBe('10.103.20.2');
    },
  },
  {
    name: 'a lab on the nftables backend (its bridge also in the iptables isolation chains)',
    yaml: `firewall: nftables
networks:
  n: { subnet: 10.242.200.0/24 }
containers:
  web:
    publish: ["42900:80"]
    command: [netlab, serve, --port, "80"]
  client: { links: [web] }
`,
    compareWithUp: true,
    works: async (lab, hostNs) => {
      expect(await curlIn(hostNs, 'http://127.0.0.1:42900/whoami', { retryMs: 8000 })).toBe('10.242.200.1');
      expect(await curlIn(`netlab-${lab}-client`, 'http://web/whoami', { retryMs: 3000 })).toBe('10.242.200.3');
    },
  },
  {
    name: 'a dual-stack lab with an IPv6-only network (ip -6 addr ... nodad, ip -6 route, disable_ipv6=0)',
    yaml: `networks:
  dual: { subnet: 10.231.60.0/24, ipv6: true, subnet6: "fd31:0:0:60::/64" }
  only6: { ipv4: false, ipv6: true, subnet6: "fd31:0:0:61::/64" }
containers:
  web:
    networks: [dual, only6]
    command: [netlab, serve, --port, "80", --bind, "::"]
  v6:
    networks: [only6]
`,
    compareWithUp: true,
    works: async (lab) => {
      expect(await curlIn(`netlab-${lab}-v6`, 'http://web/whoami', { retryMs: 8000 })).toBe('fd31:0:0:61::3');
    },
  },
];

const RUN_DIR = tempDir('run');
const nsenter = (hostNs: string, args: string[]) => execa('nsenter', [`--net=/run/netns/${hostNs}`, ...args], { reject: false, all: true, env: { NETLAB_LOG_LEVEL: 'warn', NETLAB_RUN_DIR: RUN_DIR } });
const netlab = (hostNs: string, args: string[]) => nsenter(hostNs, [process.execPath, CLI, ...args]);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  // netlab down waits for the xtables lock, which other runs on this machine may hold a while.
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
}, 240_000);

/** A fresh simulated host with its loopback up; removed after the test, with the lab. */
async function simulatedHost(lab: string, topoArgs: string[]): Promise<string> {
  const hostNs = `test-host-${randomBytes(3).toString('hex')}`;
  await execa('ip', ['netns', 'add', hostNs]);
  cleanups.push(async () => {
    await netlab(hostNs, ['down', ...topoArgs, '-l', lab, '-q']);
    await execa('ip', ['netns', 'del', hostNs], { reject: false });
  });
  await execa('ip', ['-n', hostNs, 'link', 'set', 'lo', 'up']);
  return hostNs;
}

const ipj = async (ns: string, args: string[]) => JSON.parse((await execa('ip', ['-n', ns, '-j', '-d', ...args])).stdout || '[]');

/**
 * Links as what must be equal whoever built them. MACs the kernel picks at random (bridges,
 * host-side veths, Open vSwitch's taps) are left out; containers' and hosts' eth0 MACs are netlab's.
 */
function linkSummary(list: Record<string, any>[], randomMac: (l: Record<string, any>) => boolean) {
  return list
    .filter((l) => l.ifname !== 'lo' || l.ifalias)
    .map((l) => ({
      ifname: l.ifname as string,
      kind: l.linkinfo?.info_kind,
      alias: l.ifalias as string | undefined,
      mtu: l.mtu,
      up: l.flags.includes('UP'),
      master: l.master,
      hairpin: l.linkinfo?.info_slave_data?.hairpin,
      vxlan: l.linkinfo?.info_kind === 'vxlan' ? { id: l.linkinfo.info_data.id, port: l.linkinfo.info_data.port, local: l.linkinfo.info_data.local } : undefined,
      mac: randomMac(l) ? undefined : l.address,
      // IPv6 link-local addresses come from the random MACs: the kernel's, not netlab's.
      addrs: (l.addr_info ?? [])
        .filter((a: Record<string, unknown>) => !String(a.local).startsWith('fe80:'))
        .map((a: Record<string, unknown>) => `${a.local}/${a.prefixlen} brd ${a.broadcast ?? '-'}`)
        .sort(),
    }))
    .sort((a, b) => a.ifname.localeCompare(b.ifname));
}

const routeSummary = (list: Record<string, unknown>[]) =>
  list
    .filter((r) => !String(r.dst).startsWith('fe80:'))
    .map((r) => `${r.type ?? ''} ${r.dst} ${r.gateway ?? ''} dev ${r.dev} ${r.protocol ?? ''} ${r.scope ?? ''} ${r.prefsrc ?? ''}`)
    .sort();

/** The lines of one iptables table that a lab makes: rules and netlab's chains, without counters. */
async function iptablesOf(ns: string, table: string): Promise<string[]> {
  return (await nsenter(ns, ['iptables-save', '-t', table])).stdout
    .split('\n')
    .filter((l) => l.startsWith('-') || (l.startsWith(':') && l.includes('NL-')))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ''));
}

/** A namespace of the lab: links, routes, /etc/netns files, hostname, whether anything runs in it. */
async function namespaceSnapshot(lab: string, ns: string, randomMac: (l: Record<string, any>) => boolean): Promise<Record<string, unknown>> {
  const etc = join('/etc/netns', ns);
  const name = ns.slice(`netlab-${lab}-`.length);
  return {
    links: linkSummary(await ipj(ns, ['addr', 'show']), randomMac),
    routes: routeSummary(await ipj(ns, ['route', 'show', 'table', 'all'])),
    files: existsSync(etc)
      ? Object.fromEntries(
          readdirSync(etc)
            .sort()
            .map((f) => [f, readFileSync(join(etc, f), 'utf8')]),
        )
      : {},
    hostname: (await execa('nsenter', [`--uts=${RUN_DIR}/${lab}/uts/${name}`, 'hostname'], { reject: false })).stdout,
    processes: (await execa('ip', ['netns', 'pids', ns])).stdout.trim().split('\n').filter(Boolean).length > 0,
  };
}

const labNamespaces = (lab: string) =>
  readdirSync('/run/netns')
    .filter((n) => n.startsWith(`netlab-${lab}-`))
    .sort();

/** The kernel state of a lab as text: what must be equal whoever built it. */
async function snapshot(hostNs: string, lab: string): Promise<Record<string, unknown>> {
  const randomMac = (l: Record<string, any>) => l.linkinfo?.info_kind === 'bridge' || l.ifname.startsWith('nlv');
  const out: Record<string, unknown> = {
    hostLinks: linkSummary(await ipj(hostNs, ['addr', 'show']), randomMac),
    hostRoutes: routeSummary(await ipj(hostNs, ['route', 'show', 'table', 'all'])),
    nat: await iptablesOf(hostNs, 'nat'),
    filter: await iptablesOf(hostNs, 'filter'),
    nft: (await nsenter(hostNs, ['nft', 'list', 'table', 'inet', 'netlab'])).stdout,
    ipForward: (await nsenter(hostNs, ['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim(),
  };
  for (const ns of labNamespaces(lab)) out[ns] = await namespaceSnapshot(lab, ns, randomMac);
  return out;
}

/** A multi-host lab's state: its underlay here, and every namespace of it (hosts and containers) with each host's firewall and Open vSwitch. */
async function snapshotMultiHost(hostNs: string, lab: string): Promise<Record<string, unknown>> {
  const randomMac = (l: Record<string, any>) => l.ifname.startsWith('nl') || l.ifname.startsWith('ovs') || l.linkinfo?.info_kind === 'bridge';
  const out: Record<string, unknown> = { underlay: linkSummary(await ipj(hostNs, ['addr', 'show']), randomMac).filter((l) => l.alias?.startsWith(`netlab:${lab}:`)) };
  for (const ns of labNamespaces(lab)) {
    const name = ns.slice(`netlab-${lab}-`.length);
    const one = await namespaceSnapshot(lab, ns, randomMac);
    one.fdb = (await execa('bridge', ['-n', ns, 'fdb', 'show'])).stdout
      .split('\n')
      .filter((l) => l.startsWith('00:00:00:00:00:00'))
      .sort();
    if (name.startsWith('host-')) {
      one.nat = await iptablesOf(ns, 'nat');
      one.filter = await iptablesOf(ns, 'filter');
      one.ipForward = (await nsenter(ns, ['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim();
      const rundir = `${RUN_DIR}/${lab}/ovs/${name.slice('host-'.length)}`;
      if (existsSync(`${rundir}/db.sock`)) {
        const list = async (table: string, columns: string) =>
          (await execa('ovs-vsctl', [`--db=unix:${rundir}/db.sock`, '--format=csv', '--no-headings', `--columns=${columns}`, 'list', table])).stdout.split('\n').sort();
        const bridges = await list('Bridge', 'name,datapath_type,external_ids');
        const flows: Record<string, string[]> = {};
        for (const b of bridges.map((l) => l.split(',')[0]!)) {
          flows[b] = (await execa('ovs-ofctl', ['--names', 'dump-flows', b], { env: { OVS_RUNDIR: rundir } })).stdout
            .split('\n')
            .filter((l) => l.includes('cookie='))
            .map((l) => l.replace(/ (duration|n_packets|n_bytes|idle_age|hard_age)=[^,]*,/g, ''))
            .sort();
        }
        one.ovs = { bridges, interfaces: await list('Interface', 'name,type,options,external_ids'), flows };
      }
    }
    out[ns] = one;
  }
  return out;
}

/** The README's multi-host example, on this test's own subnets and a unique lab name. */
function multiHostExample(lab: string): string {
  const example = readFileSync(new URL('../../examples/multihost.yaml', import.meta.url), 'utf8');
  return example.replace('name: multihost', `name: ${lab}`).replaceAll('192.168.56.', '10.104.60.').replaceAll('10.200.0.', '10.104.61.').replaceAll('10.201.0.', '10.104.62.');
}

/** Processes whose command line names `text` (this test's own folder). */
function pidsMentioning(text: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(text);
      } catch {
        return false;
      }
    })
    .map(Number);
}

const haveOvs = (await sh('ovs-vsctl', ['--version'])).exitCode === 0;

describe('explain, replayed by a shell in a simulated host', () => {
  for (const c of LABS) {
    it(`builds ${c.name} exactly as netlab up does, and it works`, { timeout: 240_000 }, async () => {
      const lab = uniqueLab();
      const dir = tempDir('explain');
      cleanups.push(async () => removeTempDir(dir));
      const topoArgs = c.yaml ? ['-f', join(dir, 'lab.yaml')] : [];
      if (c.yaml) writeFileSync(join(dir, 'lab.yaml'), c.yaml);

      const hostNs = await simulatedHost(lab, topoArgs);
      const explained = await netlab(hostNs, ['explain', ...topoArgs, '-l', lab]);
      expect(explained.exitCode, explained.all).toBe(0);
      writeFileSync(join(dir, 'explain.sh'), explained.stdout);
      const ran = await nsenter(hostNs, ['bash', join(dir, 'explain.sh')]);
      expect(ran.exitCode, ran.all).toBe(0);

      const dry = await netlab(hostNs, ['up', '--dry-run', ...topoArgs, '-l', lab]);
      expect(dry.stdout.trim(), dry.all).toBe('# nothing to change');
      await c.works(lab, hostNs);

      if (c.compareWithUp) {
        const byScript = await snapshot(hostNs, lab);
        expect((await netlab(hostNs, ['down', ...topoArgs, '-l', lab, '-q'])).exitCode).toBe(0);
        const hostNs2 = await simulatedHost(lab, topoArgs);
        const upped = await netlab(hostNs2, ['up', ...topoArgs, '-l', lab, '-q']);
        expect(upped.exitCode, upped.all).toBe(0);
        await c.works(lab, hostNs2);
        expect(await snapshot(hostNs2, lab)).toEqual(byScript);
      }
    });
  }
});

describe('explain --simulate, replayed by a shell', () => {
  it.skipIf(!haveOvs)('builds the multi-host example (Linux VXLAN and Open vSwitch) exactly as netlab up --simulate does, and traffic crosses the tunnels', { timeout: 300_000 }, async () => {
    const lab = uniqueLab();
    const dir = tempDir('explain');
    const file = join(dir, 'lab.yaml');
    writeFileSync(file, multiHostExample(lab));
    const hosts: string[] = [];
    /** A fresh machine for the simulation; afterwards the simulated hosts, their OVS daemons and the machine are gone. */
    const machine = async () => {
      const hostNs = `test-host-${randomBytes(3).toString('hex')}`;
      await execa('ip', ['netns', 'add', hostNs]);
      await execa('ip', ['-n', hostNs, 'link', 'set', 'lo', 'up']);
      hosts.push(hostNs);
      return hostNs;
    };
    const takeDown = async (hostNs: string) => {
      const r = await netlab(hostNs, ['down', '--simulate', '-l', lab, '-q']);
      // Whatever an interrupted run left: daemons by their folder, namespaces by their names.
      for (const pid of pidsMentioning(`${RUN_DIR}/${lab}/ovs/`)) process.kill(pid, 'SIGKILL');
      for (const ns of readdirSync('/run/netns').filter((n) => n.startsWith(`netlab-${lab}-`))) await execa('ip', ['netns', 'del', ns], { reject: false });
      const uts = join(RUN_DIR, lab, 'uts');
      for (const f of existsSync(uts) ? readdirSync(uts) : []) await execa('umount', [join(uts, f)], { reject: false });
      for (const d of readdirSync('/etc/netns').filter((n) => n.startsWith(`netlab-${lab}-`))) rmSync(join('/etc/netns', d), { recursive: true, force: true });
      return r;
    };
    cleanups.push(async () => {
      for (const h of hosts) {
        await takeDown(h);
        await execa('ip', ['netns', 'del', h], { reject: false });
      }
      removeTempDir(dir);
    });
    const b = `netlab-${lab}-b`;
    const works = async () => {
      // b (on vm2) reaches a (on vm1) by its link alias over the Linux VXLAN network, and by address over the OVS one.
      expect(await curlIn(b, 'http://alpha/whoami', { retryMs: 15_000 })).toBe('10.104.61.4');
      expect(await curlIn(b, 'http://10.104.62.3/whoami', { retryMs: 15_000 })).toBe('10.104.62.4');
    };

    const hostNs = await machine();
    const explained = await netlab(hostNs, ['explain', '--simulate', '-f', file]);
    expect(explained.exitCode, explained.all).toBe(0);
    expect(explained.stdout).toContain('# on vm1 (underlay 10.104.60.11)');
    writeFileSync(join(dir, 'explain.sh'), explained.stdout);
    const ran = await nsenter(hostNs, ['bash', join(dir, 'explain.sh')]);
    expect(ran.exitCode, ran.all).toBe(0);

    const dry = await netlab(hostNs, ['up', '--simulate', '--dry-run', '-f', file]);
    expect(dry.exitCode, dry.all).toBe(0);
    expect(
      dry.stdout.split('\n').filter((l) => l && !/^# host vm\d:$/.test(l)),
      dry.all,
    ).toEqual(['# nothing to change', '# nothing to change', '# nothing to change']);
    await works();
    const byScript = await snapshotMultiHost(hostNs, lab);
    expect(Object.keys(byScript).sort()).toEqual(['underlay', `netlab-${lab}-a`, `netlab-${lab}-b`, `netlab-${lab}-host-vm1`, `netlab-${lab}-host-vm2`].sort());
    const down = await takeDown(hostNs);
    expect(down.exitCode, down.all).toBe(0);

    const hostNs2 = await machine();
    const upped = await netlab(hostNs2, ['up', '--simulate', '-f', file, '-q']);
    expect(upped.exitCode, upped.all).toBe(0);
    await works();
    expect(await snapshotMultiHost(hostNs2, lab)).toEqual(byScript);
    expect((await takeDown(hostNs2)).exitCode).toBe(0);
    expect(netlabObjects().filter((o) => o.includes(lab))).toEqual([]);
    expect(pidsMentioning(`${RUN_DIR}/${lab}/`)).toEqual([]);
  });
});
