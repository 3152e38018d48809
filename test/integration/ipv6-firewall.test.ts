/**
 * The IPv6 firewall with real packets, under both backends: published ports reached over IPv6
 * from a LAN neighbour that routes to the host ([::], a host address, a plain port on both
 * families, [::1] kept off the LAN), icc: false with its link holes, ip6Masquerade on and off as
 * an outside machine sees the source, isolation between IPv6 networks and between labs of any
 * mix of backends, drift after `ip6tables -F` / an nft rule deleted by hand repaired by `up`,
 * and `down` leaving no IPv6 rule. Each case runs in a throwaway host namespace (helpers/vhost.ts).
 */
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { uniqueLab } from '../helpers/kernel.js';
import { curlVia, FIXTURES, servers, withVirtualHost, type VirtualHost } from '../helpers/vhost.js';

type Backend = 'iptables' | 'nftables';
const BACKENDS: Backend[] = ['iptables', 'nftables'];
const ctr = (lab: string, name: string) => `netlab-${lab}-${name}`;
const READY = { retryMs: 10_000 };
const NO = { timeoutS: 1 };
const url = (addr: string, port: number) => `http://[${addr}]:${port}/`;

/** The container's global IPv6 address on eth`i`. */
async function ip6Of(h: VirtualHost, lab: string, name: string, i = 0): Promise<string> {
  const r = await h.runIn(ctr(lab, name), ['ip', '-j', '-6', 'addr', 'show', 'dev', `eth${i}`, 'scope', 'global']);
  const addr = (JSON.parse(r.stdout) as { addr_info: { local: string }[] }[])[0]?.addr_info[0]?.local;
  if (!addr) throw new Error(`${name} has no IPv6 address on eth${i}: ${r.all}`);
  return addr;
}

/** Every rule of netlab's in the virtual host: iptables, ip6tables, and the nft table. */
async function netlabRules(h: VirtualHost): Promise<string[]> {
  const save = async (cmd: string) => (await h.run([cmd])).stdout.split('\n').filter((l) => /netlab|NL-/.test(l));
  const nft = (await h.run(['nft', 'list', 'tables'])).stdout.split('\n').filter((l) => l.includes('netlab'));
  return [...(await save('iptables-save')), ...(await save('ip6tables-save')), ...nft];
}

const curl6 = (h: VirtualHost, ns: string | undefined, addr: string, port: number, opts: { timeoutS?: number; retryMs?: number } = READY) => curlVia(h, ns, url(addr, port), opts);

describe.each(BACKENDS.map((b, i) => [b, i] as const))('IPv6 firewall, %s backend', (backend, bi) => {
  const port = (n: number) => 21100 + bi * 20 + n;
  const net4 = (n: number) => `10.232.${bi * 10 + n}.0/24`;
  const net6 = (n: number) => `fd32:${bi * 10 + n}::/64`;

  it('publishes over IPv6 ([::], a host address, a plain port on both families), keeps [::1] off the LAN, repairs ip6 drift, and down leaves no rule', async () => {
    await withVirtualHost(
      50 + bi,
      async (h) => {
        const lab = uniqueLab();
        const host6 = h.lan.hostAddr6!;
        const publish = [`${port(0)}:80`, `[::]:${port(1)}:80`, `[${host6}]:${port(2)}:80`, `[::1]:${port(3)}:80`];
        const yaml = `firewall: ${backend}\nnetworks:\n  n: { subnet: ${net4(0)}, ipv6: true, subnet6: "${net6(0)}" }\ncontainers:\n  web: { publish: ${JSON.stringify(publish)}, command: ${servers('tcp6:80')} }\n`;
        const up = await h.up(lab, yaml);
        expect(up.exitCode, up.all).toBe(0);
        const peer = h.lan.peerAddr6!;
        // The neighbour's own address arrives: DNAT, no proxy.
        expect(await curl6(h, h.lan.ns, host6, port(0))).toBe(`web ${peer}`);
        expect(await curlVia(h, h.lan.ns, `http://${h.lan.hostAddr}:${port(0)}/`, READY)).toBe(`web ${h.lan.peerAddr}`);
        expect(await curl6(h, h.lan.ns, host6, port(1))).toBe(`web ${peer}`);
        expect(await curl6(h, h.lan.ns, host6, port(2))).toBe(`web ${peer}`);
        // [::] is IPv6 only, as in Docker; [::1] is never DNATed, and kept off the LAN by a raw DROP.
        expect(await curlVia(h, h.lan.ns, `http://${h.lan.hostAddr}:${port(1)}/`, NO)).toBeUndefined();
        expect(await curl6(h, h.lan.ns, host6, port(3), NO)).toBeUndefined();
        const raw6 = (await h.run(['ip6tables-save', '-t', 'raw'])).stdout;
        const nft = (await h.run(['nft', 'list', 'table', 'inet', 'netlab'])).stdout;
        expect(backend === 'iptables' ? raw6 : nft).toMatch(
          new RegExp(backend === 'iptables' ? `-d ::1/128 ! -i lo -p tcp -m tcp --dport ${port(3)} .*-j DROP` : `ip6 daddr ::1 tcp dport ${port(3)} drop`),
        );
        // The host itself reaches the plain port on its own IPv6 address (nat OUTPUT).
        expect(await curl6(h, undefined, host6, port(0))).toMatch(/^web /);
        // stats reads the counters beside the IPv6 rules without tripping on them.
        const stats = await h.netlab(['stats', '--lab', lab]);
        expect(stats.exitCode, stats.all).toBe(0);
        // With iptables, a port's hits are its IPv4 and IPv6 DNATs' (nft rules carry no counters: "-").
        const hits = backend === 'iptables' ? '[1-9]\\d*' : '-';
        expect(stats.all).toMatch(new RegExp(`\\[::\\]:${port(1)}->80/tcp +web +${hits} `));

        // A firewall reload of IPv6 only: status sees it, up puts it back.
        if (backend === 'iptables') {
          for (const chain of ['DNAT', 'FWD', 'PORTS', 'POST']) await h.run(['ip6tables', '-t', chain === 'DNAT' || chain === 'POST' ? 'nat' : 'filter', '-F', `NL-${lab}-${chain}`]);
        } else {
          const handle = /ip6 daddr != ::1 .*dnat ip6 to .* # handle (\d+)/.exec((await h.run(['nft', '-a', 'list', 'chain', 'inet', 'netlab', `NL-${lab}-DNAT`])).stdout)?.[1];
          expect(handle).toBeDefined();
          await h.run(['nft', 'delete', 'rule', 'inet', 'netlab', `NL-${lab}-DNAT`, 'handle', handle!]);
        }
        expect(await curl6(h, h.lan.ns, host6, port(0), NO)).toBeUndefined();
        const status = await h.netlab(['status', '--lab', lab]);
        expect(status.exitCode, status.all).toBe(3);
        const again = await h.up(lab, yaml);
        expect(again.exitCode, again.all).toBe(0);
        expect(await curl6(h, h.lan.ns, host6, port(0))).toBe(`web ${peer}`);
        expect((await h.netlab(['status', '--lab', lab])).exitCode).toBe(0);

        const down = await h.netlab(['down', '--lab', lab]);
        expect(down.exitCode, down.all).toBe(0);
        expect(await netlabRules(h)).toEqual([]);
      },
      { ipv6: true },
    );
  });

  it('flushes the IPv6 flows of a UDP port when it is published, so an earlier flow is not black-holed', async () => {
    await withVirtualHost(
      62 + bi,
      async (h) => {
        const lab = uniqueLab();
        const P = port(12);
        const send = () => execa('ip', ['netns', 'exec', h.lan.ns, process.execPath, `${FIXTURES}udp-client.mjs`, h.lan.hostAddr6!, String(P), '41000', '1500'], { reject: false });
        // The host tracks connections, so a client that talks to the port before anything listens leaves a flow.
        const hostFirewall = 'table inet hostfw { chain input { type filter hook input priority 0; policy accept; ct state established,related accept; }; }';
        expect((await h.run(['nft', '-f', '-'], hostFirewall)).exitCode).toBe(0);
        expect((await send()).exitCode).toBe(1);
        expect((await h.run(['conntrack', '-L', '-f', 'ipv6', '-p', 'udp', '--orig-port-dst', String(P)])).all).toContain(`dport=${P}`);
        const yaml = `firewall: ${backend}\nnetworks:\n  n: { subnet: ${net4(3)}, ipv6: true, subnet6: "${net6(3)}", dns: false }\ncontainers:\n  dns: { publish: ["${P}:53/udp"], command: ${servers('udp6:53')} }\n`;
        const up = await h.up(lab, yaml);
        expect(up.exitCode, up.all).toBe(0);
        let answer = '';
        for (let i = 0; i < 20 && !answer; i++) answer = (await send()).stdout.trim();
        expect(answer).toBe(`dns ${h.lan.peerAddr6}`);
      },
      { ipv6: true },
    );
  });

  it('icc: false lets only links through over IPv6; ip6Masquerade on and off as the outside sees the source', async () => {
    await withVirtualHost(
      52 + bi,
      async (h) => {
        const lab = uniqueLab();
        const yaml = `firewall: ${backend}
networks:
  closed: { subnet: ${net4(1)}, ipv6: true, subnet6: "${net6(1)}", icc: false }
  routed: { subnet: ${net4(2)}, ipv6: true, subnet6: "${net6(2)}", ip6Masquerade: false }
containers:
  db: { networks: [closed], expose: [80], command: ${servers('tcp6:80')} }
  app: { networks: [closed], links: ["db"], command: ${servers('tcp6:80')} }
  other: { networks: [closed], command: ${servers('tcp6:80')} }
  plain: { networks: [routed] }
`;
        const up = await h.up(lab, yaml);
        expect(up.exitCode, up.all).toBe(0);
        // The rules read back as they were written (the IPv6 forms compare as text).
        expect((await h.netlab(['status', '--lab', lab])).exitCode).toBe(0);
        const [db, app] = [await ip6Of(h, lab, 'db'), await ip6Of(h, lab, 'app')];
        expect(await curl6(h, ctr(lab, 'app'), db, 80)).toBe(`db ${app}`);
        expect(await curl6(h, ctr(lab, 'other'), db, 80, NO)).toBeUndefined();
        expect(await curl6(h, ctr(lab, 'db'), app, 80, NO)).toBeUndefined();

        // An outside server on the LAN neighbour reports the source it sees.
        const peer = h.lan.peerAddr6!;
        await h.runIn(h.lan.ns, ['ip', '-6', 'route', 'add', net6(2), 'via', h.lan.hostAddr6!]);
        const server = execa('ip', ['netns', 'exec', h.lan.ns, process.execPath, `${FIXTURES}servers.mjs`, `tcp6:${port(10)}`], { reject: false });
        try {
          expect(await curl6(h, ctr(lab, 'app'), peer, port(10))).toMatch(new RegExp(` ${h.lan.hostAddr6}$`));
          const plain = await ip6Of(h, lab, 'plain');
          expect(await curl6(h, ctr(lab, 'plain'), peer, port(10))).toMatch(new RegExp(` ${plain}$`));
        } finally {
          server.kill();
          await server;
        }
      },
      { ipv6: true },
    );
  });
});

describe('what netlab did not make in ip6tables', () => {
  it("keeps Docker's and the user's IPv6 rules through up and down, and refuses an ip6tables chain with the lab's name that is not its own", async () => {
    await withVirtualHost(
      59,
      async (h) => {
        const theirs = [
          ['-t', 'nat', '-N', 'DOCKER'],
          ['-t', 'nat', '-A', 'DOCKER', '-i', 'docker0', '-j', 'RETURN'],
          ['-A', 'FORWARD', '-s', '2001:db8::/32', '-j', 'DROP'],
        ];
        for (const args of theirs) expect((await h.run(['ip6tables', ...args])).exitCode).toBe(0);
        const before = (await h.run(['ip6tables-save'])).stdout.split('\n').filter((l) => /DOCKER|2001:db8/.test(l));
        const lab = uniqueLab();
        const yaml = `firewall: iptables\nnetworks:\n  n: { subnet: 10.232.41.0/24, ipv6: true, subnet6: "fd32:41::/64" }\ncontainers:\n  a: { publish: ["21160:80"] }\n`;
        expect((await h.up(lab, yaml)).exitCode).toBe(0);
        expect((await h.netlab(['down', '--lab', lab])).exitCode).toBe(0);
        expect((await h.run(['ip6tables-save'])).stdout.split('\n').filter((l) => /DOCKER|2001:db8/.test(l))).toEqual(before);

        const other = uniqueLab();
        await h.run(['ip6tables', '-t', 'nat', '-N', `NL-${other}-DNAT`]);
        await h.run(['ip6tables', '-t', 'nat', '-A', `NL-${other}-DNAT`, '-j', 'RETURN']);
        const refused = await h.up(other, yaml.replace('21160', '21161'));
        expect(refused.exitCode, refused.all).toBe(2);
        expect(refused.all).toContain(`ip6tables chain NL-${other}-DNAT in table nat`);
        expect((await h.run(['ip6tables-save', '-t', 'nat'])).stdout).toContain(`-A NL-${other}-DNAT -j RETURN`);
      },
      { ipv6: true },
    );
  });
});

describe('switching firewall: with IPv6', () => {
  it('moves the IPv6 rules from ip6tables to the inet table and back, the published port working over IPv6 each time', async () => {
    await withVirtualHost(
      60,
      async (h) => {
        const lab = uniqueLab();
        const yaml = (backend: Backend) =>
          `firewall: ${backend}\nnetworks:\n  n: { subnet: 10.232.42.0/24, ipv6: true, subnet6: "fd32:42::/64" }\ncontainers:\n  web: { publish: ["21170:80"], command: ${servers('tcp6:80')} }\n`;
        const ip6Lines = async () => (await h.run(['ip6tables-save'])).stdout.split('\n').filter((l) => l.includes(`netlab:${lab}`));
        for (const backend of ['iptables', 'nftables', 'iptables'] as const) {
          const r = await h.up(lab, yaml(backend));
          expect(r.exitCode, r.all).toBe(0);
          expect(await curl6(h, h.lan.ns, h.lan.hostAddr6!, 21170)).toBe(`web ${h.lan.peerAddr6}`);
          expect((await h.netlab(['status', '--lab', lab])).exitCode).toBe(0);
          const lines = await ip6Lines();
          // An nftables lab keeps only its bridge in ip6tables' isolation chains.
          if (backend === 'nftables')
            expect(
              lines.every((l) => /^-A NL-ISOLATION-[12] /.test(l)),
              lines.join('\n'),
            ).toBe(true);
          else expect(lines.some((l) => l.includes(`-j NL-${lab}-DNAT`))).toBe(true);
        }
        expect((await h.netlab(['down', '--lab', lab])).exitCode).toBe(0);
        expect(await netlabRules(h)).toEqual([]);
      },
      { ipv6: true },
    );
  });
});

describe('down --all', () => {
  it('finds a lab that only ip6tables still holds (an interrupted run) and removes it', async () => {
    await withVirtualHost(61, async (h) => {
      const lab = uniqueLab();
      const mark = `netlab:${lab}`;
      const input = `*nat\n:NL-${lab}-DNAT - [0:0]\n-I PREROUTING 1 -m addrtype --dst-type LOCAL -m comment --comment "${mark}" -j NL-${lab}-DNAT\n-A NL-${lab}-DNAT -p tcp -m tcp --dport 21180 -m comment --comment "${mark}" -j DNAT --to-destination [fd32:43::2]:80\nCOMMIT\n`;
      expect((await h.run(['ip6tables-restore', '--noflush'], input)).exitCode).toBe(0);
      const down = await h.netlab(['down', '--all']);
      expect(down.exitCode, down.all).toBe(0);
      expect((await h.run(['ip6tables-save'])).stdout).not.toContain(lab);
    });
  });
});

describe("ip6tables' FORWARD policy", () => {
  it('warns an nftables lab with IPv6 that a DROP policy there (Docker sets it) drops its forwarded IPv6', async () => {
    await withVirtualHost(
      58,
      async (h) => {
        await h.run(['ip6tables', '-P', 'FORWARD', 'DROP']);
        const lab = uniqueLab();
        const r = await h.up(lab, `firewall: nftables\nnetworks:\n  n: { subnet: 10.232.40.0/24, ipv6: true, subnet6: "fd32:40::/64" }\ncontainers:\n  a: {}\n`);
        expect(r.exitCode, r.all).toBe(0);
        expect(r.all).toContain("ip6tables' FORWARD policy is DROP");
      },
      { ipv6: true },
    );
  });
});

describe('IPv6 isolation', () => {
  const MIXES: [Backend, Backend][] = [
    ['iptables', 'nftables'],
    ['nftables', 'iptables'],
  ];
  it.each(MIXES.map((m, i) => [m[0], m[1], i] as const))('between two IPv6 networks of a %s lab, and between it and a %s lab', async (first, second, mi) => {
    await withVirtualHost(
      56 + mi,
      async (h) => {
        const [a, b] = [uniqueLab(), uniqueLab()];
        const n = (k: number) => 20 + mi * 4 + k;
        const labA = `firewall: ${first}
networks:
  x: { subnet: 10.232.${n(0)}.0/24, ipv6: true, subnet6: "fd32:${n(0)}::/64" }
  y: { subnet: 10.232.${n(1)}.0/24, ipv6: true, subnet6: "fd32:${n(1)}::/64" }
containers:
  ax: { networks: [x], command: ${servers('tcp6:80')} }
  ay: { networks: [y], command: ${servers('tcp6:80')} }
  ax2: { networks: [x] }
`;
        const labB = `firewall: ${second}\nnetworks:\n  z: { subnet: 10.232.${n(2)}.0/24, ipv6: true, subnet6: "fd32:${n(2)}::/64" }\ncontainers:\n  bz: { command: ${servers('tcp6:80')} }\n  bz2: {}\n`;
        for (const [lab, yaml] of [
          [a, labA],
          [b, labB],
        ] as const) {
          const r = await h.up(lab, yaml);
          expect(r.exitCode, r.all).toBe(0);
        }
        const [ax, ay, bz] = [await ip6Of(h, a, 'ax'), await ip6Of(h, a, 'ay'), await ip6Of(h, b, 'bz')];
        // Each server answers inside its own network first.
        expect(await curl6(h, ctr(a, 'ax2'), ax, 80)).toMatch(/^ax /);
        expect(await curl6(h, ctr(b, 'bz2'), bz, 80)).toMatch(/^bz /);
        expect(await curl6(h, ctr(a, 'ax'), ay, 80, NO), 'network x -> y').toBeUndefined();
        expect(await curl6(h, ctr(a, 'ay'), ax, 80, NO), 'network y -> x').toBeUndefined();
        expect(await curl6(h, ctr(a, 'ax'), bz, 80, NO), 'lab a -> b').toBeUndefined();
        expect(await curl6(h, ctr(b, 'bz'), ax, 80, NO), 'lab b -> a').toBeUndefined();
        for (const lab of [a, b]) expect((await h.netlab(['down', '--lab', lab])).exitCode).toBe(0);
        expect(await netlabRules(h)).toEqual([]);
      },
      { ipv6: true },
    );
  });
});
