/**
 * The two link executors on the real kernel: the same lab built by `netlink` and by
 * `iproute2` leaves the same kernel state (the observed LabState and the `ip -d` dumps,
 * minus what the kernel picks at random), each converges on what the other built, and traffic
 * flows through a lab built in-process.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { statSync } from 'node:fs';
import { execa } from 'execa';
import { up, down, parseTopology } from '../../src/index.js';
import type { BackendName } from '../../src/index.js';
import { curlIn, httpGet, uniqueLab } from '../helpers/kernel.js';
import { freePorts } from '../helpers/ports.js';

const PORT = await freePorts();

const labs: string[] = [];
afterEach(async () => {
  for (const lab of labs.splice(0)) await down({ lab }).catch(() => undefined);
});

const topology = (lab: string) => {
  labs.push(lab);
  return parseTopology(
    `networks:
  front: { subnet: 10.102.1.0/24, ipv6: true, subnet6: "fd31:102:1::/64" }
  back: { subnet: 10.102.2.0/24, internal: true, mtu: 1400 }
containers:
  web:
    networks: [front, back]
    ip: { front: 10.102.1.10, back: 10.102.2.10 }
    expose: [8080]
    publish: ["127.0.0.1:${PORT}:8080"]
    command: [netlab, serve, --port, "8080"]
  db:
    networks: [back]
    hostname: db.example.org
  client:
    networks: [front]
    links: ["web:www"]
`,
    { source: 'backends.yaml', defaultName: lab },
  );
};

async function ipJson(args: string[]): Promise<any[]> {
  const r = await execa('ip', ['-j', '-d', ...args]);
  return JSON.parse(r.stdout || '[]');
}

/** What the kernel holds for a lab, with random or per-run values (ifindex, host-side MACs, counters) left out. */
async function snapshot(lab: string) {
  const link = (l: any, keepMac: boolean) => ({
    ifname: l.ifname,
    alias: l.ifalias,
    mtu: l.mtu,
    flags: [...l.flags].filter((f: string) => f !== 'LOWER_UP' && f !== 'NO-CARRIER').sort(),
    master: l.master,
    mac: keepMac ? l.address : undefined,
    kind: l.linkinfo?.info_kind,
    slave: l.linkinfo?.info_slave_kind,
    hairpin: l.linkinfo?.info_slave_data?.hairpin,
    group: l.group,
    // IPv6: the global addresses (link-local ones come by themselves).
    addrs: (l.addr_info ?? []).filter((a: any) => a.family === 'inet' || a.scope === 'global').map((a: any) => `${a.local}/${a.prefixlen} brd ${a.broadcast} scope ${a.scope}`),
  });
  const route = (r: any) => `${r.type ?? ''} ${r.dst} via ${r.gateway ?? '-'} dev ${r.dev} proto ${r.protocol ?? '-'} scope ${r.scope ?? '-'} src ${r.prefsrc ?? '-'}`;
  const host = (await ipJson(['addr', 'show'])).filter((l) => String(l.ifalias ?? '').startsWith(`netlab:${lab}:`)).map((l) => link(l, false));
  const namespaces: Record<string, unknown> = {};
  for (const c of ['web', 'db', 'client']) {
    const ns = `netlab-${lab}-${c}`;
    const hostname = (await execa('nsenter', [`--uts=/run/netlab/${lab}/uts/${c}`, 'hostname'])).stdout;
    namespaces[c] = {
      hostname,
      // Each interface's disable_ipv6 (`ip` shows none of them).
      ipv6: (await execa('ip', ['netns', 'exec', ns, 'grep', '-H', '.', ...['lo', 'eth0', 'eth1'].map((i) => `/proc/sys/net/ipv6/conf/${i}/disable_ipv6`)], { reject: false })).stdout,
      links: (await ipJson(['-n', ns, 'addr', 'show'])).map((l) => link(l, true)),
      // Both families; not the link-local ones, which come by themselves once duplicate address detection ends.
      routes: (await ipJson(['-n', ns, 'route', 'show', 'table', 'all']))
        .filter((r) => !String(r.dst).startsWith('fe80'))
        .map(route)
        .sort(),
    };
  }
  return { host: host.sort((a, b) => a.ifname.localeCompare(b.ifname)), namespaces };
}

describe('the netlink and iproute2 executors', () => {
  it('leave identical kernel state, and each converges on what the other built', async () => {
    const lab = uniqueLab();
    const built: Record<string, Awaited<ReturnType<typeof snapshot>>> = {};
    const observed: Record<string, unknown> = {};
    for (const backend of ['netlink', 'iproute2'] as BackendName[]) {
      const first = await up({ topology: topology(lab), backend });
      expect(first.ops.length).toBeGreaterThan(30);
      built[backend] = await snapshot(lab);
      // The other backend reads the same state and finds nothing to change.
      const other: BackendName = backend === 'netlink' ? 'iproute2' : 'netlink';
      expect((await up({ topology: topology(lab), backend: other })).ops).toEqual([]);
      observed[backend] = (await up({ topology: topology(lab), backend, dryRun: true })).ops;
      await down({ lab, backend });
      expect((await execa('ip', ['netns', 'list'])).stdout).not.toContain(`netlab-${lab}-`);
    }
    expect(built.netlink!.host.length).toBe(6); // two bridges, four veths
    // IPv6 off on the containers' IPv4-only interfaces (as Docker), on where it has an address (front), on lo left as it was.
    expect(built.netlink!.namespaces.web).toMatchObject({ ipv6: ['lo:0', 'eth0:0', 'eth1:1'].map((v) => `/proc/sys/net/ipv6/conf/${v.replace(':', '/disable_ipv6:')}`).join('\n') });
    expect(built.netlink).toEqual(built.iproute2);
    expect(observed.netlink).toEqual([]);
    expect(observed.iproute2).toEqual([]);
  });

  it('builds a lab in-process whose containers talk and whose published port answers', async () => {
    const lab = uniqueLab();
    await up({ topology: topology(lab), backend: 'netlink' });
    expect(await httpGet(`http://127.0.0.1:${PORT}/whoami`)).toBe('10.102.1.1\n');
    expect(await curlIn(`netlab-${lab}-client`, 'http://www:8080/whoami', { retryMs: 8000 })).toMatch(/^10\.102\.1\.\d+$/);
    // The internal network reaches no one outside it: db has no default route.
    const routes = await ipJson(['-n', `netlab-${lab}-db`, 'route', 'show']);
    expect(routes.map((r) => r.dst)).toEqual(['10.102.2.0/24']);
    const r = await down({ lab, backend: 'netlink' });
    expect(r.ops.map((o) => o.kind)).toContain('kernel.reap');
    const left = (await ipJson(['link', 'show'])).filter((l) => String(l.ifalias ?? '').startsWith(`netlab:${lab}:`));
    expect(left).toEqual([]);
  });

  it('removes the veth of a namespace that something outside the lab holds open, after waiting for the kernel', async () => {
    const lab = uniqueLab();
    labs.push(lab);
    await up({ topology: parseTopology('networks:\n  n: { subnet: 10.102.4.0/24 }\ncontainers:\n  a: {}\n  b: {}\n', { source: 'held.yaml', defaultName: lab }) });
    const nsFile = `/run/netns/netlab-${lab}-a`;
    // A process in the host's namespace with a's namespace open (not in it: down stops those)
    // keeps it alive once its name is gone, and with it the veth pair.
    const holder = execa('bash', ['-c', 'exec 3<"$0"; exec sleep 60', nsFile], { reject: false });
    try {
      const held = () => holder.pid !== undefined && statSync(`/proc/${holder.pid}/fd/3`, { throwIfNoEntry: false })?.ino === statSync(nsFile).ino;
      for (let i = 0; i < 200 && !held(); i++) await new Promise((r) => setTimeout(r, 10));
      expect(held()).toBe(true);
      const started = Date.now();
      const r = await down({ lab });
      expect(r.ops.filter((o) => o.kind === 'process.stop')).toEqual([]);
      // b's veth went with its namespace; a's only when netlab stopped waiting (5 s) and deleted it.
      expect(Date.now() - started).toBeGreaterThan(4500);
      const left = (await ipJson(['link', 'show'])).filter((l) => String(l.ifalias ?? '').startsWith(`netlab:${lab}:`));
      expect(left).toEqual([]);
      expect(holder.exitCode).toBeNull(); // not netlab's: left running
    } finally {
      holder.kill('SIGKILL');
      await holder;
    }
  }, 30_000);

  it('read the same links, addresses and routes: the in-process dumps and ip -j', async () => {
    const lab = uniqueLab();
    labs.push(lab);
    await up({
      topology: parseTopology('networks:\n  n: { subnet: 10.102.3.0/24, ipv6: true, subnet6: "fd31:102:3::/64" }\ncontainers:\n  a: {}\n  b: { links: [a] }\n', { source: 'r.yaml', defaultName: lab }),
    });
    const { selectBackend } = await import('../../src/kernel/backend.js');
    const seen = (l: any) => ({
      ifname: l.ifname,
      ifalias: l.ifalias,
      mtu: l.mtu,
      up: l.flags.includes('UP'),
      master: l.master,
      address: l.address,
      peerNs: l.link_netnsid !== undefined,
      kind: l.linkinfo?.info_kind,
      slave: l.linkinfo?.info_slave_kind,
      hairpin: l.linkinfo?.info_slave_data?.hairpin,
      addrs: (l.addr_info ?? []).filter((a: any) => a.family === 'inet' || a.scope === 'global').map((a: any) => `${a.local}/${a.prefixlen}`),
    });
    const views: Record<string, unknown> = {};
    for (const name of ['netlink', 'iproute2'] as const) {
      const b = selectBackend(name);
      const ns = await b.readNamespaces([`netlab-${lab}-a`, `netlab-${lab}-b`, `netlab-${lab}-gone`]);
      views[name] = {
        host: (await b.readHost()).filter((l) => l.ifalias?.startsWith(`netlab:${lab}:`)).map(seen),
        namespaces: Object.fromEntries(
          [...ns].map(([k, v]) => [k, { links: v.links.map(seen), routes: v.routes.map((r) => `${r.dst} via ${r.gateway ?? '-'} dev ${r.dev} proto ${r.protocol}`).sort() }]),
        ),
      };
    }
    expect(Object.keys((views.netlink as any).namespaces)).toEqual([`netlab-${lab}-a`, `netlab-${lab}-b`]);
    expect((views.netlink as any).host.length).toBe(3);
    expect(views.netlink).toEqual(views.iproute2);
  });

  it("read the host's routes as ip lists them, but for those no subnet is taken from: local, broadcast, IPv6 multicast and link-local", async () => {
    const { dumpHostLinksAndRoutes } = await import('../../src/kernel/nldump.js');
    const leftOut = (r: { dst: string; type?: string }, six: boolean) => r.type === 'local' || r.type === 'broadcast' || (six && (r.type === 'multicast' || /^fe[89ab][0-9a-f]:/.test(r.dst)));
    const text = (r: { dst: string; dev?: string; type?: string }) => `${r.type ?? 'unicast'} ${r.dst} dev ${r.dev ?? '-'}`;
    // Other runs' labs change the host's routes meanwhile: the two reads agree on one of a few tries.
    let last: [string[], string[]] = [[], []];
    for (let i = 0; i < 5; i++) {
      const ip = async (family: string) =>
        (JSON.parse((await execa('ip', ['-j', family, 'route', 'show', 'table', 'all'])).stdout) as { dst: string; dev?: string; type?: string }[]).filter((r) => !leftOut(r, family === '-6'));
      const want = [...(await ip('-4')), ...(await ip('-6'))].map(text).sort();
      const got = dumpHostLinksAndRoutes().routes.map(text).sort();
      last = [got, want];
      if (JSON.stringify(got) === JSON.stringify(want)) break;
    }
    expect(last[0]).toEqual(last[1]);
    expect(last[0].some((r) => / fe80:/.test(r) || r.startsWith('local '))).toBe(false);
  });

  it('say which commands a failed request carried and what the kernel answered', async () => {
    const { selectBackend } = await import('../../src/kernel/backend.js');
    const name = `nlt${uniqueLab().slice(-8)}`;
    const netlink = selectBackend('netlink');
    try {
      // The second creation fails (requests already sent behind it stand, as the executor says).
      await expect(
        netlink.applyLinks([
          { kind: 'bridge.add', name, mtu: 1500 },
          { kind: 'bridge.add', name, mtu: 1500 },
          { kind: 'link.set', name, up: true },
        ]),
      ).rejects.toThrow(`ip link add ${name} mtu 1500 type bridge: EEXIST`);
      // Two link.sets sent as one request are named together.
      await expect(
        netlink.applyLinks([
          { kind: 'link.set', name: `${name}x`, alias: 'a' },
          { kind: 'link.set', name: `${name}x`, up: true },
        ]),
      ).rejects.toThrow(`ip link set dev ${name}x alias a && ip link set dev ${name}x up: `);
    } finally {
      await execa('ip', ['link', 'del', name], { reject: false });
    }
  });

  it("send a namespace's requests at once, name the one the kernel refused, and leave the others done", async () => {
    const { selectBackend } = await import('../../src/kernel/backend.js');
    const ns = `nlt${uniqueLab().slice(-8)}`;
    const netlink = selectBackend('netlink');
    try {
      await netlink.applyLinks([{ kind: 'netns.add', ns }]);
      await expect(
        netlink.applyLinks([
          { kind: 'link.set', ns, name: 'lo', up: true },
          { kind: 'addr.add', ns, dev: 'lo', cidr: '10.255.7.1/32' },
          { kind: 'addr.add', ns, dev: 'lo', cidr: '10.255.7.1/32' },
          { kind: 'addr.add', ns, dev: 'lo', cidr: '10.255.7.2/32' },
        ]),
      ).rejects.toThrow(/addr add 10\.255\.7\.1\/32 (brd \+ )?dev lo: EEXIST$/);
      // Like requests already sent on a pipelined socket, those after the refused one were carried out too.
      const lo = (await netlink.readNamespaces([ns])).get(ns)!.links.find((l) => l.ifname === 'lo')!;
      expect(lo.flags).toContain('UP');
      // The reader gives both families: lo's ::1 after its IPv4 addresses.
      expect(lo.addr_info?.map((a) => a.local)).toEqual(['127.0.0.1', '10.255.7.1', '10.255.7.2', '::1']);
      // A link that is not there is named too.
      await expect(netlink.applyLinks([{ kind: 'addr.add', ns, dev: 'eth9', cidr: '10.255.7.3/32' }])).rejects.toThrow(/addr add 10\.255\.7\.3\/32 (brd \+ )?dev eth9: .*ENODEV/);
    } finally {
      await execa('ip', ['netns', 'del', ns], { reject: false });
    }
  });
});
