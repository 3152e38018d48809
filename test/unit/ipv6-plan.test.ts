/** IPv6 beyond the keys: /etc/hosts lines, the embedded DNS's AAAA, the plan's addresses, routes and sysctls, doctor. */
import { describe, expect, it } from 'vitest';
import dnsPacket from 'dns-packet';
import { parseTopology } from '../../src/topology/load.js';
import { resolveLab } from '../../src/model/lab.js';
import { resolverConfig, reverseName } from '../../src/dns/records.js';
import { answer, answerer } from '../../src/dns/answer.js';
import { desiredState } from '../../src/plan/desired.js';
import { diff } from '../../src/plan/diff.js';
import { emptyState } from '../../src/plan/state.js';
import { renderOp } from '../../src/plan/render.js';
import { ipv6Checks } from '../../src/engine/doctor.js';
import type { HostFacts } from '../../src/kernel/probe.js';
import { emptyHostContext } from '../helpers/context.js';
import { formatIp6, parseIp6 } from '../../src/model/ipv6.js';

const LAB = `
networks:
  dual: { subnet: 10.231.1.0/24, ipv6: true, subnet6: "fd31:0:0:1::/64" }
  old: { subnet: 10.231.2.0/24, ipv6: true, subnet6: "fd31:0:0:2::/64", dns: false }
  v4: { subnet: 10.231.3.0/24 }
  only6: { ipv4: false, ipv6: true, subnet6: "fd31:0:0:3::/64" }
containers:
  web: { networks: [dual, old, only6] }
  client: { networks: [dual], links: ["web:site"] }
  legacy: { networks: [old, v4] }
  v6: { networks: [only6] }
`;
const lab = resolveLab(parseTopology(LAB, { source: 'x.yaml', defaultName: 'x' }), { ...emptyHostContext, ipv6: true });
const ctr = (name: string) => lab.containers.find((c) => c.name === name)!;

describe('IPv6 names', () => {
  it("writes /etc/hosts as Docker does: an IPv6 line after each IPv4 one, for links, peers and the container's own", () => {
    expect(ctr('client').files.hosts).toContain('10.231.1.2\tsite web\nfd31:0:0:1::2\tsite web\n');
    expect(ctr('client').files.hosts.endsWith('10.231.1.3\tclient\nfd31:0:0:1::3\tclient\n')).toBe(true);
    // The default-bridge-like network (dns: false) lists its peers with both families.
    expect(ctr('legacy').files.hosts).toContain('10.231.2.2\tweb\nfd31:0:0:2::2\tweb\n');
    expect(
      ctr('v6').files.hosts.endsWith('::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\nfd31:0:0:3::3\tv6\n'),
    ).toBe(true);
  });

  it('keeps link variables IPv4, as Docker does', () => {
    expect(ctr('client').env.find(([k]) => k === 'SITE_NAME')).toEqual(['SITE_NAME', '/client/site']);
    expect(ctr('client').links[0]).toMatchObject({ ip: '10.231.1.2', ip6: 'fd31:0:0:1::2' });
  });

  it('answers AAAA with the IPv6 addresses, A with the IPv4 ones, NODATA for A of an IPv6-only name, and ip6.arpa PTRs', async () => {
    const config = resolverConfig(lab)!;
    const view = (c: string) => config.views.find((v) => v.container === c)!;
    const a = answerer(config);
    const ask = async (c: string, name: string, type: 'A' | 'AAAA' | 'PTR') => {
      const got = dnsPacket.decode((await answer(a, view(c), dnsPacket.encode({ type: 'query', id: 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] })))!);
      // dns-packet prints IPv6 its own way (fd31::1:0:0:0:2): compared in RFC 5952 form.
      for (const x of got.answers ?? []) if (x.type === 'AAAA') x.data = formatIp6(parseIp6(x.data)!);
      return got;
    };
    expect((await ask('client', 'web', 'AAAA')).answers!.map((x) => x.data)).toEqual(['fd31:0:0:1::2']);
    expect((await ask('client', 'web', 'A')).answers!.map((x) => x.data)).toEqual(['10.231.1.2']);
    expect((await ask('client', 'site', 'AAAA')).answers!.map((x) => x.data)).toEqual(['fd31:0:0:1::2']);
    const none = await ask('web', 'v6', 'A');
    expect([none.rcode, none.answers!.length]).toEqual(['NOERROR', 0]);
    expect((await ask('web', 'v6', 'AAAA')).answers!.map((x) => x.data)).toEqual(['fd31:0:0:3::3']);
    expect(reverseName('fd31:0:0:3::3')).toBe('3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.0.0.0.0.0.0.0.0.0.1.3.d.f.ip6.arpa');
    expect((await ask('web', reverseName('fd31:0:0:3::3'), 'PTR')).answers![0]).toMatchObject({ type: 'PTR', data: 'v6.only6' });
  });
});

describe('the IPv6 plan', () => {
  const want = desiredState(lab, { selfArgv: ['node', 'netlab'], ipv6: true });
  const ns = (c: string) => want.namespaces[ctr(c).netns]!;

  it('puts gateway6 on the bridge, both families on dual-stack interfaces, IPv6 on only where there is an IPv6 address', () => {
    const dual = lab.networks.find((n) => n.name === 'dual')!;
    expect(want.hostLinks[dual.bridge]!.addrs).toEqual(['10.231.1.1/24', 'fd31:0:0:1::1/64']);
    expect(want.hostLinks[lab.networks.find((n) => n.name === 'only6')!.bridge]!.addrs).toEqual(['fd31:0:0:3::1/64']);
    expect(ns('legacy').ifaces).toMatchObject({ eth0: { addrs: ['10.231.2.3/24', 'fd31:0:0:2::3/64'], ipv6Disabled: false }, eth1: { addrs: ['10.231.3.2/24'], ipv6Disabled: true } });
    expect(ns('v6').ifaces.eth0).toMatchObject({ addrs: ['fd31:0:0:3::3/64'], ipv6Disabled: false });
    expect(ns('client').routes).toEqual(['default via 10.231.1.1 dev eth0', 'default via fd31:0:0:1::1 dev eth0']);
    expect(ns('v6').routes).toEqual(['default via fd31:0:0:3::1 dev eth0']);
    expect(want.sysctls).toMatchObject({ 'net.ipv6.conf.all.forwarding': '1', [`net.ipv6.conf.${lab.networks[0]!.bridge}.accept_ra`]: '0' });
  });

  it('turns IPv6 on before the address goes on, adds it with nodad, and prints ip -6', () => {
    const ops = diff(want, emptyState(lab.name)).filter((o) => 'ns' in o && o.ns === ctr('v6').netns);
    const text = ops.map(renderOp);
    const on = text.indexOf(`ip netns exec ${ctr('v6').netns} sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0`);
    const addr = text.indexOf(`ip -6 -n ${ctr('v6').netns} addr add fd31:0:0:3::3/64 dev eth0 nodad`);
    const route = text.indexOf(`ip -6 -n ${ctr('v6').netns} route replace default via fd31:0:0:3::1 dev eth0`);
    expect(on).toBeGreaterThanOrEqual(0);
    expect(addr).toBeGreaterThan(on);
    expect(route).toBeGreaterThan(addr);
  });

  it('an IPv4-only lab plans no IPv6 at all', () => {
    const v4 = resolveLab(parseTopology('networks:\n  n: { subnet: 10.231.4.0/24 }\ncontainers:\n  a: {}\n', { source: 'x.yaml', defaultName: 'y' }), emptyHostContext);
    const s = desiredState(v4, { selfArgv: ['node', 'netlab'], ipv6: true });
    expect(JSON.stringify(s)).not.toMatch(/ipv6\.conf\.all|accept_ra|::/);
    expect(Object.values(s.namespaces)[0]!.ifaces.eth0!.ipv6Disabled).toBe(true);
  });
});

describe('doctor and IPv6', () => {
  const facts = (ipv6: HostFacts['ipv6']) => ({ ipv6 }) as HostFacts;
  it('fails a topology with IPv6 on a kernel without it, and only warns one without IPv6 networks', () => {
    expect(ipv6Checks(facts({ kernel: false }), { ipv6: true, firewall: 'iptables' })[0]).toMatchObject({ id: 'kernel:ipv6', status: 'fail' });
    expect(ipv6Checks(facts({ kernel: false }), { ipv6: false, firewall: 'iptables' })[0]).toMatchObject({ id: 'kernel:ipv6', status: 'warn' });
    expect(ipv6Checks(facts({ kernel: true, ip6tables: false }), { ipv6: true, firewall: 'iptables' })[1]).toMatchObject({ id: 'firewall:ip6tables', status: 'fail' });
    expect(ipv6Checks(facts({ kernel: true, ip6tables: true }), { ipv6: true, firewall: 'iptables' }).map((c) => c.status)).toEqual(['ok', 'ok']);
  });
});
