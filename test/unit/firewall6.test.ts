/**
 * The IPv6 firewall as data and text: publish specs with IPv6 host addresses, the rules each
 * IPv6 option gives (golden files, both backends), what stays IPv4-only, and the ip6tables
 * part of removal and of an nftables lab's isolation.
 */
import { describe, expect, it } from 'vitest';
import { parseTopology } from '../../src/topology/load.js';
import { resolveLab } from '../../src/model/lab.js';
import { emptyHostContext } from '../helpers/context.js';
import { desiredState } from '../../src/plan/desired.js';
import { parsePublish, PortSpecError } from '../../src/model/ports.js';
import { iptablesRestoreInput, moveIsolation } from '../../src/kernel/iptables.js';
import { firewallInputs } from '../../src/kernel/firewall.js';
import { nftScript } from '../../src/kernel/nftables.js';
import { canonicalSets } from '../../src/model/nft-maps.js';
import { expectGolden } from '../helpers/golden.js';
import { renderOp as render } from '../../src/plan/render.js';

const ctx = { ...emptyHostContext, ipv6: true };

function want(yaml: string, backend: 'iptables' | 'nftables') {
  const topo = parseTopology(`firewall: ${backend}\n${yaml}`, { source: 'netlab.yaml', defaultName: 'lab' });
  return desiredState(resolveLab(topo, ctx), { selfArgv: ['/usr/bin/node', '/opt/netlab/cli.js'] });
}

const NET = 'nltest0, subnet: 172.31.9.0/24, ipv6: true, subnet6: "fd32:9::/64"';
const COMBOS: Record<string, string> = {
  // docker network create --ipv6; docker run -p 8080:80 -p [::]:8081:80 -p [2001:db8::10]:8082:80 -p [::1]:8083:80 -p 8000-8002:80-82
  'ipv6-publish': `networks:\n  n: { bridge: ${NET} }\ncontainers:\n  web: { publish: ["8080:80", "[::]:8081:80", "[2001:db8::10]:8082:80", "[::1]:8083:80", "8000-8002:80-82", "5353:53/udp"] }\n`,
  // --icc=false with --link db:database, on an IPv6 network
  'ipv6-icc-false-links': `networks:\n  n: { bridge: ${NET}, icc: false }\ncontainers:\n  db: { expose: [5432] }\n  app: { links: ["db:database"] }\n`,
  // --internal, and ip6Masquerade off
  'ipv6-internal': `networks:\n  n: { bridge: ${NET}, internal: true }\n  m: { bridge: nltest1, subnet: 172.31.10.0/24, ipv6: true, subnet6: "fd32:10::/64", ip6Masquerade: false }\ncontainers:\n  a: { networks: [n, m] }\n`,
};

describe('IPv6 host addresses in publish specs', () => {
  it('parses [::], an IPv6 address in brackets or without, and [::1], in the canonical form', () => {
    expect(parsePublish('[::]:8080:80')[0]).toMatchObject({ hostIp: '::', hostPort: 8080, containerPort: 80 });
    expect(parsePublish('[2001:DB8:0:0::1]:8080:80/udp')[0]).toMatchObject({ hostIp: '2001:db8::1', proto: 'udp' });
    expect(parsePublish('2001:db8::1:8080:80')[0]).toMatchObject({ hostIp: '2001:db8::1', hostPort: 8080 });
    expect(parsePublish('[::1]::80')[0]).toMatchObject({ hostIp: '::1', hostPort: 0, containerPort: 80 });
  });

  it('refuses what is no host address of its own, saying why', () => {
    expect(() => parsePublish('[ff02::1]:1:2')).toThrow(/multicast/);
    expect(() => parsePublish('[fe80::1]:1:2')).toThrow(/link-local/);
    expect(() => parsePublish('[::ffff:10.0.0.1]:1:2')).toThrow(/IPv4-mapped/);
    expect(() => parsePublish('[fd00::g]:1:2')).toThrow(PortSpecError);
    expect(() => parsePublish('[::1]:80')).toThrow(/is not \[ip:\]/);
  });
});

describe('IPv6 rule sets (golden)', () => {
  for (const [name, yaml] of Object.entries(COMBOS)) {
    it(`${name}: iptables-restore and ip6tables-restore input`, () =>
      expectGolden(
        `firewall/${name}.iptables`,
        firewallInputs(want(yaml, 'iptables').firewall, undefined)
          .map((p) => `# ${p.command}\n${p.input}`)
          .join(''),
      ));
    it(`${name}: nft -f input`, () => expectGolden(`firewall/${name}.nft`, nftScript(want(yaml, 'nftables').firewall, undefined)));
  }

  it('gives each IPv6 option its rule, in the family it belongs to', () => {
    const fw = want(COMBOS['ipv6-publish']!, 'iptables').firewall;
    const [v4, v6] = [iptablesRestoreInput(fw, undefined), iptablesRestoreInput(fw, undefined, 6)];
    // A plain port: both families; the IPv6 DNAT leaves ::1 to the loopback proxy.
    expect(v4).toContain('-A NL-lab-DNAT -p tcp -m tcp --dport 8080 -m comment --comment "netlab:lab" -j DNAT --to-destination 172.31.9.2:80');
    expect(v6).toContain('-A NL-lab-DNAT ! -d ::1/128 -p tcp -m tcp --dport 8080 -m comment --comment "netlab:lab" -j DNAT --to-destination [fd32:9::2]:80');
    expect(v6).toContain('-A NL-lab-PORTS -d fd32:9::2/128 ! -i nltest0 -o nltest0 -p tcp -m tcp --dport 80 -m comment --comment "netlab:lab" -j ACCEPT');
    // [::] and an IPv6 address: IPv6 only.
    expect(v4).not.toMatch(/--dport 808[12] /);
    expect(v6).toContain('-A NL-lab-DNAT -d 2001:db8::10/128 -p tcp -m tcp --dport 8082 -m comment --comment "netlab:lab" -j DNAT --to-destination [fd32:9::2]:80');
    expect(v6).toContain('-A NL-lab-DNAT -p tcp -m tcp --dport 8000:8002 -m comment --comment "netlab:lab" -j DNAT --to-destination [fd32:9::2]:80-82/8000'.replace('-p tcp', '! -d ::1/128 -p tcp'));
    // [::1]: no DNAT (no route_localnet in IPv6), the LAN-side DROP.
    expect(v6).not.toMatch(/--dport 8083 .*DNAT/);
    expect(v6).toContain('-A NL-lab-RAW -d ::1/128 ! -i lo -p tcp -m tcp --dport 8083 -m comment --comment "netlab:lab" -j DROP');
    expect(v4).not.toContain('*raw');
    expect(v6).toContain('-A NL-lab-POST -s fd32:9::/64 ! -o nltest0 -m comment --comment "netlab:lab" -j MASQUERADE');
  });

  it('writes the link holes and neighbour discovery for icc: false, internal drops, and no IPv6 NAT with ip6Masquerade: false', () => {
    const links = iptablesRestoreInput(want(COMBOS['ipv6-icc-false-links']!, 'iptables').firewall, undefined, 6);
    expect(links).toContain('-A NL-lab-PORTS -s fd32:9::3/128 -d fd32:9::2/128 -i nltest0 -o nltest0 -p tcp -m tcp --dport 5432 -m comment --comment "netlab:lab" -j ACCEPT');
    expect(links).toContain('-A NL-lab-FWD -i nltest0 -o nltest0 -p ipv6-icmp -m icmp6 --icmpv6-type 135 -m comment --comment "netlab:lab" -j ACCEPT');
    expect(links.indexOf('--icmpv6-type 136')).toBeLessThan(links.indexOf('-i nltest0 -o nltest0 -m comment --comment "netlab:lab" -j DROP'));
    const internal = iptablesRestoreInput(want(COMBOS['ipv6-internal']!, 'iptables').firewall, undefined, 6);
    expect(internal).toContain('-A NL-lab-FWD ! -d fd32:9::/64 -i nltest0 -m comment --comment "netlab:lab" -j DROP');
    expect(internal).not.toContain('-s fd32:9::/64 ! -o nltest0');
    expect(internal).not.toContain('-s fd32:10::/64 ! -o nltest1');
    expect(iptablesRestoreInput(want(COMBOS['ipv6-internal']!, 'iptables').firewall, undefined)).toContain('-A NL-lab-POST -s 172.31.10.0/24 ! -o nltest1');
  });

  it('lets bridged IPv6 pass ip6tables and forwards IPv6', () => {
    const s = want(COMBOS['ipv6-publish']!, 'iptables');
    expect(s.sysctls['net.bridge.bridge-nf-call-ip6tables']).toBe('1');
    expect(s.sysctls['net.ipv6.conf.all.forwarding']).toBe('1');
  });

  it('writes nothing into ip6tables for a lab without IPv6', () => {
    const fw = want('networks:\n  n: { bridge: nltest0, subnet: 172.31.9.0/24 }\ncontainers:\n  web: { publish: ["8080:80"] }\n', 'iptables').firewall;
    expect(iptablesRestoreInput(fw, undefined, 6)).toBe('');
    expect(firewallInputs(fw, undefined).map((p) => p.command)).toEqual(['iptables-restore -w --noflush']);
  });
});

describe('IPv6 removal and sharing', () => {
  it('down removes the ip6tables chains and rules as the iptables ones, in one transaction per family', () => {
    const fw = want(COMBOS['ipv6-publish']!, 'iptables').firewall!;
    const v6 = iptablesRestoreInput(undefined, fw, 6);
    expect(v6).toContain('-D PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "netlab:lab" -j NL-lab-DNAT');
    expect(v6).toContain('-X NL-lab-DNAT');
    expect(v6).toContain('-X NL-lab-RAW');
    expect(v6).toContain('-D NL-ISOLATION-1 -i nltest0 ! -o nltest0 -m comment --comment "netlab:lab" -j NL-ISOLATION-2');
  });

  it("lists an nftables lab's IPv6 bridges in ip6tables' isolation chains too, and reads them back there", () => {
    const fw = want(COMBOS['ipv6-publish']!, 'nftables').firewall!;
    expect(fw.tables['ip6 filter']!.jumps).toContain('-A NL-ISOLATION-2 -o nltest0 -m comment --comment "netlab:lab" -j DROP');
    expect(iptablesRestoreInput(fw, undefined, 6)).toContain('-I NL-ISOLATION-2 1 -o nltest0 -m comment --comment "netlab:lab" -j DROP');
    const seen = { backend: 'iptables' as const, tables: { 'ip6 filter': { chains: [], jumps: fw.tables['ip6 filter']!.jumps, rules: [], shared: ['NL-ISOLATION-1', 'NL-ISOLATION-2'], others: {} } } };
    const [rest, nft] = moveIsolation(seen, { backend: 'nftables', tables: {} });
    expect(nft.tables['ip6 filter']!.jumps).toEqual(fw.tables['ip6 filter']!.jumps);
    expect(rest.tables['ip6 filter']!.jumps).toEqual([]);
  });

  it('clears the IPv6 UDP flows of a published UDP port too, each by the rule that carries its DNAT', () => {
    for (const backend of ['iptables', 'nftables'] as const) {
      const fw = want(COMBOS['ipv6-publish']!, backend).firewall!;
      const rules = Object.values(fw.tables).flatMap((t) => t.rules);
      expect(fw.udpDnat!.map((u) => u.family ?? 4)).toEqual([4, 6]);
      for (const u of fw.udpDnat!) expect(rules, `${backend}: ${u.rule}`).toContain(u.rule);
    }
    const op = render({ kind: 'conntrack.flush', proto: 'udp', port: 5353, family: 6 });
    expect(op).toBe('conntrack -D -f ipv6 -p udp --orig-port-dst 5353 || true');
  });

  it('compares an IPv6 map or set whatever order nft lists its elements in', () => {
    const fw = want(`networks:\n  n: { bridge: ${NET} }\ncontainers:\n  a: { publish: ["9001:81", "9000:80"] }\n  b: { publish: ["9002:82"] }\n`, 'nftables').firewall!;
    const map = fw.tables['inet netlab']!.rules.find((r) => r.includes('dnat ip6 to tcp dport map'))!;
    expect(map).toContain('{ 9000 : fd32:9::2 . 80, 9001 : fd32:9::2 . 81, 9002 : fd32:9::3 . 82 }');
    const shuffled = map.replace(/\{ (.*) \}/, (_, body: string) => `{ ${body.split(', ').reverse().join(', ')} }`);
    expect(canonicalSets(shuffled)).toBe(map);
  });
});
