/**
 * Docker parity, with real packets, on both firewall backends: publish (every form), source
 * addresses, loopback-only ports, UDP and conntrack, links and icc, several networks and their
 * isolation (also between labs), internal networks, ipMasquerade, a firewall reload, and
 * coexistence with Docker's own chains. Each test runs netlab in a throwaway host namespace
 * (see helpers/vhost.ts) so that it owns the host's firewall, ports and port range there.
 */
import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { uniqueLab } from '../helpers/kernel.js';
import { FIXTURES, servers, withVirtualHost, type VirtualHost } from '../helpers/vhost.js';
import { curlVia } from '../helpers/vhost.js';

const BACKENDS = ['iptables', 'nftables'] as const;

const ctr = (lab: string, name: string) => `netlab-${lab}-${name}`;
/** Waits for a container's servers, then checks a forbidden path fails within its timeout. */
const READY = { retryMs: 10_000 };

/** One port of `ps --json`, as Docker's API gives it. */
interface ApiPort {
  IP?: string;
  PrivatePort: number;
  PublicPort?: number;
  Type: string;
}

async function psJson(h: VirtualHost, lab: string): Promise<{ name: string; ip: string; ports: ApiPort[] }[]> {
  const r = await h.netlab(['ps', '--lab', lab, '--json']);
  expect(r.exitCode, r.all).toBe(0);
  return JSON.parse(r.stdout);
}

async function inspectJson(h: VirtualHost, lab: string, name: string): Promise<any> {
  const r = await h.netlab(['inspect', name, '--lab', lab, '--json']);
  expect(r.exitCode, r.all).toBe(0);
  return JSON.parse(r.stdout)[0];
}

/** `Tcp: InSegs` of a namespace: how many TCP segments reached it. */
async function tcpInSegs(h: VirtualHost, ns: string): Promise<number> {
  const snmp = (await h.runIn(ns, ['cat', '/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Tcp:'));
  const [names, values] = snmp.map((l) => l.split(/\s+/));
  return Number(values![names!.indexOf('InSegs')]);
}

describe.each(BACKENDS.map((b, i) => [b, i] as const))('Docker parity with firewall: %s', (backend, bi) => {
  // Each backend gets its own subnets (10.101.<net>.0/24) and host ports (19000 + 100 * bi + n).
  const net = (n: number) => `10.101.${bi * 50 + n}`;
  const port = (n: number) => 19000 + bi * 100 + n;
  const lan = (n: number) => bi * 16 + n;

  it('publishes every form, keeps client addresses, and keeps 127.0.0.1 ports off the LAN', async () => {
    await withVirtualHost(lan(0), async (h) => {
      const lab = uniqueLab();
      const P = port(0);
      const up = await h.up(
        lab,
        `firewall: ${backend}
networks:
  n: { subnet: ${net(0)}.0/24 }
containers:
  web:
    publish: ["${P}:80", "127.0.0.1:${P + 1}:80", "${h.lan.hostAddr}:${P + 2}:80", "${P + 3}-${P + 5}:80-82", "${P + 10}-${P + 19}:80", "81"]
    command: ${servers('tcp:80', 'tcp:81', 'tcp:82')}
  all:
    expose: [80, 81]
    publishAll: true
    command: ${servers('tcp:80', 'tcp:81')}
`,
      );
      expect(up.exitCode, up.all).toBe(0);
      const gw = `${net(0)}.1`;
      const { peerAddr, hostAddr } = h.lan;

      // 8080:80 from the host's localhost (masqueraded to the gateway) and from the LAN (address kept).
      expect(await curlVia(h, undefined, `http://127.0.0.1:${P}/`, READY)).toBe(`web ${gw}`);
      expect(await curlVia(h, h.lan.ns, `http://${hostAddr}:${P}/`)).toBe(`web ${peerAddr}`);

      // 127.0.0.1:P:80 answers on the host's localhost only.
      expect(await curlVia(h, undefined, `http://127.0.0.1:${P + 1}/`)).toBe(`web ${gw}`);
      expect(await curlVia(h, h.lan.ns, `http://${hostAddr}:${P + 1}/`, { timeoutS: 1 })).toBeUndefined();

      // HOSTIP:P:80 answers on that address only.
      expect(await curlVia(h, h.lan.ns, `http://${hostAddr}:${P + 2}/`)).toBe(`web ${peerAddr}`);
      expect(await curlVia(h, undefined, `http://127.0.0.1:${P + 2}/`, { timeoutS: 1 })).toBeUndefined();

      // A range maps port for port.
      for (let i = 0; i < 3; i++) expect(await curlVia(h, h.lan.ns, `http://${hostAddr}:${P + 3 + i}/`)).toBe(`web ${peerAddr}`);
      const web = (await psJson(h, lab)).find((r) => r.name === 'web')!;
      // ps --json gives Docker's API objects: a range port by port.
      const api = (ip: string, pub: number, priv: number): ApiPort => ({ IP: ip, PrivatePort: priv, PublicPort: pub, Type: 'tcp' });
      expect(web.ports.slice(0, 6)).toEqual([
        api('0.0.0.0', P, 80),
        api('127.0.0.1', P + 1, 80),
        api(hostAddr, P + 2, 80),
        api('0.0.0.0', P + 3, 80),
        api('0.0.0.0', P + 4, 81),
        api('0.0.0.0', P + 5, 82),
      ]);

      // A host range to one container port: one free port of the range. A container port alone:
      // one from ip_local_port_range (19400-19499 in the virtual host).
      const one = web.ports[6]!.PublicPort!;
      expect(web.ports[6]!.PrivatePort).toBe(80);
      expect(one).toBeGreaterThanOrEqual(P + 10);
      expect(one).toBeLessThanOrEqual(P + 19);
      expect(await curlVia(h, h.lan.ns, `http://${hostAddr}:${one}/`)).toBe(`web ${peerAddr}`);
      const random = web.ports[7]!.PublicPort!;
      expect(web.ports[7]!.PrivatePort).toBe(81);
      expect(random).toBeGreaterThanOrEqual(19400);
      expect(await curlVia(h, h.lan.ns, `http://${hostAddr}:${random}/`)).toBe(`web ${peerAddr}`);

      // publishAll: every exposed port, on random host ports, shown by inspect in Docker's shape.
      const all = await inspectJson(h, lab, 'all');
      expect(Object.keys(all.NetworkSettings.Ports).sort()).toEqual(['80/tcp', '81/tcp']);
      for (const [key, bindings] of Object.entries(all.NetworkSettings.Ports) as [string, { HostIp: string; HostPort: string }[]][]) {
        expect(bindings).toHaveLength(1);
        expect(bindings[0]!.HostIp).toBe('0.0.0.0');
        const hp = Number(bindings[0]!.HostPort);
        expect(hp).toBeGreaterThanOrEqual(19400);
        expect(hp).toBeLessThanOrEqual(19499);
        expect(await curlVia(h, h.lan.ns, `http://${hostAddr}:${hp}/`, READY), key).toBe(`all ${peerAddr}`);
      }
      expect(all.NetworkSettings).toMatchObject({ IPAddress: `${net(0)}.3`, Gateway: gw, MacAddress: expect.stringMatching(/^02:42:/) });

      // A LAN neighbour that sends packets for 127.0.0.1 to the host (moby#45610): the peer
      // sends to an address it routes via the host (its default route), and rewrites the
      // destination after routing, so the packets reach the host's MAC addressed to 127.0.0.1.
      const via = '10.101.253.99';
      const rewrite = `table ip tolo { chain out { type filter hook output priority 0; policy accept; ip daddr ${via} tcp dport { ${P}, ${P + 1} } ip daddr set 127.0.0.1; }; }`;
      expect((await execa('ip', ['netns', 'exec', h.lan.ns, 'nft', '-f', '-'], { input: rewrite, reject: false })).exitCode).toBe(0);
      const webNs = ctr(lab, 'web');
      const before = await tcpInSegs(h, webNs);
      await curlVia(h, h.lan.ns, `http://${via}:${P + 1}/`, { timeoutS: 1 });
      expect(await tcpInSegs(h, webNs), 'a 127.0.0.1-only port reached from the LAN').toBe(before);
      // The control: the same trick on a port published on every address does reach the container.
      await curlVia(h, h.lan.ns, `http://${via}:${P}/`, { timeoutS: 1 });
      expect(await tcpInSegs(h, webNs)).toBeGreaterThan(before);
    });
  });

  // A range's flows are found by listing them: conntrack -D takes one port, not a range.
  it.each([
    ['a UDP port', (P: number) => `${P}:53/udp`],
    ['a UDP range', (P: number) => `${P - 1}-${P}:52-53/udp`],
  ])('flushes conntrack when %s is published, so an earlier flow is not black-holed', async (_what, spec) => {
    await withVirtualHost(lan(1), async (h) => {
      const lab = uniqueLab();
      const P = port(20);
      const send = () => execa('ip', ['netns', 'exec', h.lan.ns, process.execPath, `${FIXTURES}udp-client.mjs`, h.lan.hostAddr, String(P), '41000', '1500'], { reject: false });
      // The host tracks connections (its own firewall does, as nearly every host's does)...
      const hostFirewall = 'table inet hostfw { chain input { type filter hook input priority 0; policy accept; ct state established,related accept; }; }';
      expect((await h.run(['nft', '-f', '-'], hostFirewall)).exitCode).toBe(0);
      // ...so a client that talks to the port before anything listens leaves a flow in conntrack.
      expect((await send()).exitCode).toBe(1);
      expect((await h.run(['conntrack', '-L', '-p', 'udp', '--orig-port-dst', String(P)])).all).toContain(`dport=${P}`);
      const up = await h.up(lab, `firewall: ${backend}\nnetworks:\n  n: { subnet: ${net(1)}.0/24, dns: false }\ncontainers:\n  dns:\n    publish: ["${spec(P)}"]\n    command: ${servers('udp:53')}\n`);
      expect(up.exitCode, up.all).toBe(0);
      expect(up.all).not.toContain('error');
      // The same flow (same ports) now reaches the container at once, with its source address.
      let answer = '';
      for (let i = 0; i < 20 && !answer; i++) answer = (await send()).stdout.trim();
      expect(answer).toBe(`dns ${h.lan.peerAddr}`);
      const dry = await h.netlab(['up', '--dry-run', '-f', h.labFile(lab), '--lab', lab]);
      expect(dry.stdout).toContain('# nothing to change');
    });
  });

  it('links and icc: false: only the linked pair talks, on the exposed ports', async () => {
    await withVirtualHost(lan(2), async (h) => {
      const lab = uniqueLab();
      const up = await h.up(
        lab,
        `firewall: ${backend}
networks:
  n: { subnet: ${net(2)}.0/24, icc: false }
containers:
  db:
    expose: ["5432", "7000-7002"]
    env: { PASSWORD: secret, HOME: /root }
    command: ${servers('tcp:5432', 'tcp:6000')}
  app:
    links: ["db:database", "peer"]
    command: ${servers('tcp:80')}
  peer:
    command: ${servers('tcp:80')}
  other:
    command: ${servers('tcp:80')}
`,
      );
      expect(up.exitCode, up.all).toBe(0);
      const db = `${net(2)}.2`;
      const app = `${net(2)}.3`;
      expect((await h.run(['sysctl', '-n', 'net.bridge.bridge-nf-call-iptables'])).stdout.trim()).toBe('1');
      // The linked pair, on an exposed port, by the alias and by the name: request and answer.
      expect(await curlVia(h, ctr(lab, 'app'), 'http://database:5432/', READY)).toBe(`db ${app}`);
      expect(await curlVia(h, ctr(lab, 'app'), 'http://db:5432/')).toBe(`db ${app}`);
      // Not exposed, not linked, or the other way round: blocked.
      expect(await curlVia(h, ctr(lab, 'app'), `http://${db}:6000/`, { timeoutS: 1 })).toBeUndefined();
      expect(await curlVia(h, ctr(lab, 'other'), `http://${db}:5432/`, { timeoutS: 1 })).toBeUndefined();
      expect(await curlVia(h, ctr(lab, 'db'), `http://${app}:80/`, { timeoutS: 1 })).toBeUndefined();
      // `peer` exposes nothing: the link gives names and variables, no hole.
      expect(await curlVia(h, ctr(lab, 'app'), 'http://peer:80/', { timeoutS: 1 })).toBeUndefined();

      const env = (await h.netlab(['exec', '--lab', lab, 'app', '--', 'env'])).stdout.split('\n');
      expect(env).toEqual(
        expect.arrayContaining([
          `DATABASE_PORT=tcp://${db}:5432`,
          `DATABASE_PORT_5432_TCP=tcp://${db}:5432`,
          `DATABASE_PORT_5432_TCP_ADDR=${db}`,
          `DATABASE_PORT_5432_TCP_PORT=5432`,
          `DATABASE_PORT_5432_TCP_PROTO=tcp`,
          `DATABASE_PORT_7000_TCP_START=tcp://${db}:7000`,
          `DATABASE_PORT_7000_TCP_ADDR=${db}`,
          `DATABASE_PORT_7000_TCP_PROTO=tcp`,
          `DATABASE_PORT_7000_TCP_PORT_START=7000`,
          `DATABASE_PORT_7000_TCP_END=tcp://${db}:7002`,
          `DATABASE_PORT_7000_TCP_PORT_END=7002`,
          'DATABASE_NAME=/app/database',
          'DATABASE_ENV_PASSWORD=secret',
          'PEER_NAME=/app/peer',
        ]),
      );
      expect(env.some((l) => l.startsWith('DATABASE_ENV_HOME'))).toBe(false);
      const hosts = (await h.netlab(['exec', '--lab', lab, 'app', '--', 'cat', '/etc/hosts'])).stdout;
      expect(hosts).toContain(`${db}\tdatabase db\n`);
      const inspect = await inspectJson(h, lab, 'app');
      expect(inspect.HostConfig.Links).toEqual(['/db:/app/database', '/peer:/app/peer']);
    });
  });

  it('several networks: eth0 and eth1, isolation between networks and labs, internal, ipMasquerade: false', async () => {
    await withVirtualHost(lan(3), async (h) => {
      const lab = uniqueLab();
      const other = uniqueLab();
      const P = port(40);
      const peerServer = execa('ip', ['netns', 'exec', h.lan.ns, process.execPath, `${FIXTURES}servers.mjs`, 'tcp:8000'], { reject: false });
      try {
        const up = await h.up(
          lab,
          `firewall: ${backend}
networks:
  front: { subnet: ${net(3)}.0/24 }
  back: { subnet: ${net(4)}.0/24, internal: true }
  plain: { subnet: ${net(5)}.0/24, ipMasquerade: false }
containers:
  gw: { networks: [front, back], command: ${servers('tcp:80')} }
  f: { networks: [front], command: ${servers('tcp:80')} }
  b: { networks: [back], command: ${servers('tcp:80')} }
  p: { networks: [plain], publish: ["${P}:80"], command: ${servers('tcp:80')} }
`,
        );
        expect(up.exitCode, up.all).toBe(0);
        const up2 = await h.up(other, `firewall: ${backend}\nnetworks:\n  n: { subnet: ${net(6)}.0/24 }\ncontainers:\n  x: { publish: ["${P + 1}:80"], command: ${servers('tcp:80')} }\n`);
        expect(up2.exitCode, up2.all).toBe(0);
        const [gwFront, f, gwBack, b, p, x] = [`${net(3)}.2`, `${net(3)}.3`, `${net(4)}.2`, `${net(4)}.3`, `${net(5)}.2`, `${net(6)}.2`];

        const addrs = (await h.runIn(ctr(lab, 'gw'), ['ip', '-4', '-br', 'addr'])).stdout;
        expect(addrs).toMatch(new RegExp(`^eth0@\\S+\\s+UP\\s+${gwFront}/24`, 'm'));
        expect(addrs).toMatch(new RegExp(`^eth1@\\S+\\s+UP\\s+${gwBack}/24`, 'm'));
        const gw = await inspectJson(h, lab, 'gw');
        expect(gw.NetworkSettings.Networks.front).toMatchObject({ IPAddress: gwFront, InterfaceName: 'eth0' });
        expect(gw.NetworkSettings.Networks.back).toMatchObject({ IPAddress: gwBack, InterfaceName: 'eth1' });

        // Same network: allowed, on both of gw's networks.
        expect(await curlVia(h, ctr(lab, 'gw'), `http://${f}/`, READY)).toBe(`f ${gwFront}`);
        expect(await curlVia(h, ctr(lab, 'gw'), `http://${b}/`, READY)).toBe(`b ${gwBack}`);
        expect(await curlVia(h, ctr(lab, 'f'), `http://${gwFront}/`, READY)).toBe(`gw ${f}`);
        // Across networks of the lab, even to a published port: dropped.
        expect(await curlVia(h, ctr(lab, 'p'), `http://${f}/`, { timeoutS: 1 })).toBeUndefined();
        expect(await curlVia(h, ctr(lab, 'f'), `http://${p}/`, { timeoutS: 1 })).toBeUndefined();
        // Across labs, both ways, even to published ports.
        expect(await curlVia(h, ctr(other, 'x'), `http://${f}/`, { timeoutS: 1 })).toBeUndefined();
        expect(await curlVia(h, ctr(other, 'x'), `http://${p}/`, { timeoutS: 1 })).toBeUndefined();
        expect(await curlVia(h, ctr(lab, 'f'), `http://${x}/`, { timeoutS: 1 })).toBeUndefined();
        expect(await curlVia(h, ctr(lab, 'p'), `http://${x}/`, { timeoutS: 1 })).toBeUndefined();
        // The published ports themselves still answer the LAN.
        expect(await curlVia(h, h.lan.ns, `http://${h.lan.hostAddr}:${P}/`, READY)).toBe(`p ${h.lan.peerAddr}`);
        expect(await curlVia(h, h.lan.ns, `http://${h.lan.hostAddr}:${P + 1}/`, READY)).toBe(`x ${h.lan.peerAddr}`);

        // Outside: masqueraded by default, the container's own address with ipMasquerade: false,
        // nothing at all from an internal network (and no default route there).
        const peerUrl = `http://${h.lan.peerAddr}:8000/`;
        const peerName = (await h.run(['hostname'])).stdout.trim();
        expect(await curlVia(h, ctr(lab, 'f'), peerUrl, READY)).toBe(`${peerName} ${h.lan.hostAddr}`);
        expect(await curlVia(h, ctr(lab, 'p'), peerUrl, READY)).toBe(`${peerName} ${p}`);
        expect(await curlVia(h, ctr(lab, 'b'), peerUrl, { timeoutS: 1 })).toBeUndefined();
        // gw's default route is on front; back (internal) gives no way out even for a dual-homed container's packets from back.
        expect((await h.runIn(ctr(lab, 'b'), ['ip', 'route'])).stdout).not.toContain('default');
        expect(await curlVia(h, ctr(lab, 'gw'), peerUrl, READY)).toBe(`${peerName} ${h.lan.hostAddr}`);
      } finally {
        peerServer.kill();
        await peerServer;
      }
    });
  });

  it('survives a firewall reload: status reports the drift and up restores the rules', async () => {
    await withVirtualHost(lan(4), async (h) => {
      const lab = uniqueLab();
      const P = port(50);
      const up = await h.up(lab, `firewall: ${backend}\nnetworks:\n  n: { subnet: ${net(7)}.0/24 }\ncontainers:\n  web: { publish: ["${P}:80"], command: ${servers('tcp:80')} }\n`);
      expect(up.exitCode, up.all).toBe(0);
      const url = `http://${h.lan.hostAddr}:${P}/`;
      expect(await curlVia(h, h.lan.ns, url, READY)).toBe(`web ${h.lan.peerAddr}`);
      const inSync = await h.netlab(['status', '--lab', lab]);
      expect(inSync.exitCode, inSync.all).toBe(0);
      expect(inSync.stdout).toContain('in sync');
      expect(inSync.stdout).toMatch(/web\s+Up /);

      // `iptables -F` (all chains of the nat, filter and raw tables): drift for both backends
      // (an nftables lab's bridges are in iptables' isolation chains too), but the nftables
      // backend's table, and so its published port, is untouched.
      for (const t of ['filter', 'nat', 'raw']) expect((await h.run(['iptables', '-t', t, '-F'])).exitCode).toBe(0);
      const afterF = await h.netlab(['status', '--lab', lab]);
      expect(afterF.exitCode, afterF.all).toBe(3);
      if (backend === 'iptables') {
        expect(afterF.stdout).toContain('missing rule: -A NL-');
        expect(await curlVia(h, h.lan.ns, url, { timeoutS: 1 })).toBeUndefined();
      } else {
        expect(afterF.stdout).toContain('missing rule: -A NL-ISOLATION-1 ');
        expect(await curlVia(h, h.lan.ns, url, READY)).toBe(`web ${h.lan.peerAddr}`);
      }
      expect((await h.netlab(['up', '-f', h.labFile(lab), '--lab', lab])).exitCode).toBe(0);
      expect((await h.netlab(['status', '--lab', lab])).exitCode).toBe(0);
      expect(await curlVia(h, h.lan.ns, url, READY)).toBe(`web ${h.lan.peerAddr}`);

      // `nft flush ruleset` (what a firewalld reload amounts to): everything is gone.
      expect((await h.run(['nft', 'flush', 'ruleset'])).exitCode).toBe(0);
      const drift = await h.netlab(['status', '--lab', lab]);
      expect(drift.exitCode).toBe(3);
      expect(drift.stdout).toMatch(/drifted: "netlab up" would make \d+ changes? \(.*firewall update/);
      expect(await curlVia(h, h.lan.ns, url, { timeoutS: 1 })).toBeUndefined();
      const repair = await h.netlab(['up', '-f', h.labFile(lab), '--lab', lab]);
      expect(repair.exitCode, repair.all).toBe(0);
      expect(await curlVia(h, h.lan.ns, url, READY)).toBe(`web ${h.lan.peerAddr}`);
      expect((await h.netlab(['status', '--lab', lab])).exitCode).toBe(0);
    });
  });

  it("coexists with Docker's chains and tables: they are byte for byte the same during and after the lab", async () => {
    await withVirtualHost(lan(5), async (h) => {
      const lab = uniqueLab();
      const P = port(60);
      // What a running Docker leaves in the firewall (its iptables chains, and its nftables table of Docker 29).
      const docker = `*nat
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
COMMIT
*filter
:FORWARD DROP [0:0]
:DOCKER - [0:0]
:DOCKER-USER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
`;
      expect((await h.run(['iptables-restore', '--noflush'], docker)).exitCode).toBe(0);
      // (and, beside them, a table of Docker 29's nftables mode, to show netlab's table leaves others alone)
      const dockerNft = 'table ip docker-bridges { chain filter-FORWARD { type filter hook forward priority filter; policy accept; oifname "docker0" ct state established,related accept; }; }';
      expect((await h.run(['nft', '-f', '-'], dockerNft)).exitCode).toBe(0);

      const iptablesNotOurs = async () =>
        (await h.run(['iptables-save'])).stdout
          .split('\n')
          .filter((l) => !l.startsWith('#') && !l.includes('netlab:') && !l.startsWith(':NL-'))
          .map((l) => l.replace(/\[\d+:\d+\]$/, ''))
          .join('\n');
      const dockerTable = async () => (await h.run(['nft', '-s', 'list', 'table', 'ip', 'docker-bridges'])).stdout;
      const ruleset = async () => (await h.run(['nft', '-s', 'list', 'ruleset'])).stdout;
      const [ipt0, nft0, all0] = [await iptablesNotOurs(), await dockerTable(), await ruleset()];

      const up = await h.up(lab, `firewall: ${backend}\nnetworks:\n  n: { subnet: ${net(8)}.0/24 }\ncontainers:\n  web: { publish: ["${P}:80"], command: ${servers('tcp:80')} }\n`);
      expect(up.exitCode, up.all).toBe(0);
      if (backend === 'iptables') {
        // Docker's FORWARD policy is DROP: the lab's jump at the top of FORWARD accepts its traffic first.
        expect(await curlVia(h, h.lan.ns, `http://${h.lan.hostAddr}:${P}/`, READY)).toBe(`web ${h.lan.peerAddr}`);
      } else {
        // A packet must pass every table: the policy drops what netlab's table accepts. netlab
        // says so rather than touch Docker's chains or the policy.
        expect(up.all).toContain("iptables' FORWARD policy is DROP");
        expect(await curlVia(h, h.lan.ns, `http://${h.lan.hostAddr}:${P}/`, { timeoutS: 2 })).toBeUndefined();
      }
      expect(await iptablesNotOurs()).toBe(ipt0);
      expect(await dockerTable()).toBe(nft0);

      expect((await h.netlab(['down', '--lab', lab])).exitCode).toBe(0);
      expect(await iptablesNotOurs()).toBe(ipt0);
      // Nothing of netlab's is left, in either backend: the whole ruleset is what it was.
      expect(await ruleset()).toBe(all0);
    });
  });

  it('refuses a host port another lab publishes, before changing anything', async () => {
    await withVirtualHost(lan(6), async (h) => {
      const a = uniqueLab();
      const b = uniqueLab();
      const P = port(70);
      expect((await h.up(a, `firewall: ${backend}\nnetworks:\n  n: { subnet: ${net(9)}.0/24 }\ncontainers:\n  x: { publish: ["${P}:80"] }\n`)).exitCode).toBe(0);
      const clash = await h.up(b, `firewall: ${backend}\nnetworks:\n  n: { subnet: ${net(10)}.0/24 }\ncontainers:\n  y: { publish: ["${P}:80"] }\n`);
      expect(clash.exitCode).toBe(2);
      expect(clash.all).toContain(`containers.y.publish[0]: host port ${P}/tcp is already in use on this host (lab ${a})`);
      expect((await execa('ip', ['netns', 'list'])).stdout).not.toContain(`netlab-${b}-`);
    });
  });
});
