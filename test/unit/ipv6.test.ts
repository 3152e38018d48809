import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isIPv6 } from 'node:net';
import { contains6, formatCidr6, formatIp6, isIp6Text, lastIp6, overlaps6, parseCidr6, parseIp6 } from '../../src/model/ipv6.js';
import { allocateAddresses6, pickSubnet6 } from '../../src/model/ipam6.js';
import { PoolExhaustedError } from '../../src/model/ipam.js';
import { resolveLab, SubnetTakenError, allocationOf } from '../../src/model/lab.js';
import { parse, problems } from '../helpers/topology.js';
import { emptyHostContext } from '../helpers/context.js';
import { formatCidr } from '../../src/model/ipv4.js';

const ip = (t: string) => parseIp6(t)!;
const cidr = (t: string) => parseCidr6(t)!;

describe('ipv6 addresses', () => {
  it('parses every RFC 4291 form and formats as RFC 5952', () => {
    expect(formatIp6(ip('FD31:0000:0000:0001:0000:0000:0000:0002'))).toBe('fd31:0:0:1::2');
    expect(formatIp6(ip('::'))).toBe('::');
    expect(formatIp6(ip('::1'))).toBe('::1');
    expect(formatIp6(ip('1::'))).toBe('1::');
    expect(formatIp6(ip('2001:db8:0:0:1:0:0:1'))).toBe('2001:db8::1:0:0:1');
    expect(formatIp6(ip('2001:0:0:1:0:0:0:1'))).toBe('2001:0:0:1::1');
    expect(formatIp6(ip('2001:db8:0:1:1:1:1:1'))).toBe('2001:db8:0:1:1:1:1:1');
    expect(formatIp6(ip('::ffff:192.0.2.1'))).toBe('::ffff:c000:201');
    expect(ip('::ffff:192.0.2.1')).toBe(0xffffc0000201n);
    for (const bad of ['fd31::1::2', '1.2.3.4', 'fd31:::1', 'g::1', 'fe80::1%eth0', '1:2:3:4:5:6:7:8:9']) expect(parseIp6(bad), bad).toBeUndefined();
  });

  it('parses subnets with their host bits zero, and tells containment and overlap', () => {
    expect(parseCidr6('fd31:0:0:1::1/64')).toBeUndefined();
    expect(formatCidr6(parseCidr6('fd31:0:0:1::1/64', false)!)).toBe('fd31:0:0:1::/64');
    expect(parseCidr6('fd31::/129')).toBeUndefined();
    const s = cidr('fd31:0:0:1::/64');
    expect(contains6(s, ip('fd31::1:ffff:ffff:ffff:ffff'))).toBe(true);
    expect(contains6(s, ip('fd31::2:0:0:0:0'))).toBe(false);
    expect(formatIp6(lastIp6(s))).toBe('fd31::1:ffff:ffff:ffff:ffff');
    expect(overlaps6(cidr('fd00::/8'), s)).toBe(true);
    expect(overlaps6(cidr('fd00::/64'), s)).toBe(false);
  });

  it('picks the first free ULA /64, never one the host routes', () => {
    expect(formatCidr6(pickSubnet6([]))).toBe('fd6e:6c61:6200::/64');
    expect(formatCidr6(pickSubnet6([cidr('fd00::/64'), cidr('fd6e:6c61:6200::/64')]))).toBe('fd6e:6c61:6200:1::/64');
    expect(() => pickSubnet6([cidr('fd00::/8')])).toThrow(PoolExhaustedError);
  });

  it('gives the lowest free address after the gateway, keeping statics and previous ones', () => {
    const s = cidr('fd31:0:0:1::/64');
    const got = allocateAddresses6(
      s,
      [ip('fd31:0:0:1::1')],
      [{ name: 'a' }, { name: 'b', fixed: ip('fd31:0:0:1::2') }, { name: 'c', previous: ip('fd31:0:0:1::9') }, { name: 'd', previous: ip('fd31:0:0:2::9') }],
    );
    expect([...got].map(([n, a]) => `${n}=${formatIp6(a)}`)).toEqual(['b=fd31:0:0:1::2', 'c=fd31:0:0:1::9', 'a=fd31:0:0:1::3', 'd=fd31:0:0:1::4']);
  });
});

describe('ipv6 keys', () => {
  const lab = (nets: string, ctrs: string) => `networks:\n${nets}containers:\n${ctrs}`;

  it('resolves a dual-stack network: gateway ::1, addresses in file order, kept across ups', () => {
    const t = parse(lab('  n: { ipv6: true, subnet6: "fd31:0:0:1:0::/64" }\n', '  a: {}\n  b: { ip6: "fd31:0:0:1::99" }\n  c: {}\n'));
    expect(t.networks[0]).toMatchObject({ enableIpv6: true, subnet6: 'fd31:0:0:1::/64', ip6Masquerade: true });
    const r = resolveLab(t, emptyHostContext);
    expect(r.networks[0]!.ipv6).toEqual({ subnet: 'fd31:0:0:1::/64', prefix: 64, gateway: 'fd31:0:0:1::1', gateways: { '': 'fd31:0:0:1::1' } });
    expect(r.containers.map((c) => c.interfaces[0]!.ip6)).toEqual(['fd31:0:0:1::2', 'fd31:0:0:1::99', 'fd31:0:0:1::3']);
    expect(r.containers[0]!.interfaces[0]).toMatchObject({ prefix6: 64, gateway6: 'fd31:0:0:1::1' });
    // The next up with a new container first keeps everyone's address.
    const t2 = parse(lab('  n: { ipv6: true, subnet6: "fd31:0:0:1::/64" }\n', '  z: {}\n  a: {}\n  b: { ip6: "fd31:0:0:1::99" }\n  c: {}\n'));
    const r2 = resolveLab(t2, { ...emptyHostContext, previous: allocationOf(r) });
    expect(r2.containers.map((c) => c.interfaces[0]!.ip6)).toEqual(['fd31:0:0:1::4', 'fd31:0:0:1::2', 'fd31:0:0:1::99', 'fd31:0:0:1::3']);
  });

  it('picks an automatic ULA /64 clear of the host and keeps it; an IPv4-only network gets no IPv6', () => {
    const t = parse(lab('  n: { ipv6: true }\n  m: {}\n', '  a: { networks: [n, m] }\n'));
    const ctx = { ...emptyHostContext, takenSubnets6: [{ cidr: cidr('fd6e:6c61:6200::/56'), by: 'the route to fd6e:6c61:6200::/56 dev eth0' }] };
    const r = resolveLab(t, ctx);
    expect(r.networks[0]!.ipv6?.subnet).toBe('fd6e:6c61:6200:100::/64');
    expect(r.networks[1]!.ipv6).toBeUndefined();
    expect(r.containers[0]!.interfaces[1]!.ip6).toBeUndefined();
    expect(resolveLab(t, { ...emptyHostContext, previous: allocationOf(r) }).networks[0]!.ipv6?.subnet).toBe('fd6e:6c61:6200:100::/64');
  });

  it('gives an IPv6-only network (ipv4: false) no IPv4 at all: nothing taken from the IPv4 pools, no address, a MAC from the IPv6 address', () => {
    const t = parse(lab('  only6: { ipv4: false, ipv6: true, subnet6: "fd31:0:0:7::/64" }\n  v4: {}\n', '  a: { networks: [only6] }\n  b: { networks: [v4] }\n'));
    const r = resolveLab(t, emptyHostContext);
    expect(r.networks.map((n) => formatCidr(n.subnet))).toEqual(['0.0.0.0/32', '172.31.0.0/24']);
    expect(r.containers[0]!.interfaces[0]).toMatchObject({ ip: '', prefix: 0, gateway: '', ip6: 'fd31:0:0:7::2', mac: '02:42:00:00:00:02' });
    // Kept across ups, and never handed to the network as a real subnet should it get IPv4 later.
    const again = parse(lab('  only6: { ipv6: true, subnet6: "fd31:0:0:7::/64" }\n  v4: {}\n', '  a: { networks: [only6] }\n  b: { networks: [v4] }\n'));
    expect(formatCidr(resolveLab(again, { ...emptyHostContext, previous: allocationOf(r) }).networks[0]!.subnet)).toBe('172.31.1.0/24');
  });

  it('refuses a given subnet6 the host already routes, naming its line', () => {
    const t = parse(lab('  n:\n    ipv6: true\n    subnet6: fd00::/64\n', '  a: {}\n'));
    const ctx = { ...emptyHostContext, takenSubnets6: [{ cidr: cidr('fd00::/64'), by: 'the route to fd00::/64 dev eth0' }] };
    expect(() => resolveLab(t, ctx)).toThrow(SubnetTakenError);
    expect(() => resolveLab(t, ctx)).toThrow('netlab.yaml:4: networks.n.subnet6: fd00::/64 overlaps the route to fd00::/64 dev eth0');
  });

  it('publishes to the container address of both families', () => {
    const r = resolveLab(parse(lab('  n: { ipv6: true, subnet6: "fd31:0:0:2::/64" }\n', '  a: { publish: ["21001:80"] }\n')), emptyHostContext);
    expect(r.containers[0]!.ports[0]).toMatchObject({ containerIp: expect.stringMatching(/^172\./), containerIp6: 'fd31:0:0:2::2' });
  });

  it('refuses bad IPv6 input with its path and line', () => {
    expect(problems(lab('  n: { subnet6: "fd31::/64" }\n', '  a: {}\n'))).toContain('netlab.yaml:2: networks.n.subnet6: "subnet6" needs "ipv6: true" on the network');
    expect(problems(lab('  n: { ipv6: true, subnet6: "10.0.0.0/24" }\n', '  a: {}\n'))[0]).toMatch(/^netlab.yaml:2: networks.n.subnet6: "10.0.0.0\/24" is not an IPv6 subnet/);
    expect(problems(lab('  n: { ipv6: true, subnet6: "fd31::/96" }\n', '  a: {}\n'))[0]).toMatch(/prefix \/96 must be between \/16 and \/64/);
    expect(problems(lab('  n: { ipv6: true, subnet6: "fe80::/64" }\n', '  a: {}\n'))[0]).toMatch(/is in the link-local range/);
    expect(problems(lab('  n: { ipv6: true, subnet6: "fd31::/64", gateway6: "fd32::1" }\n', '  a: {}\n'))[0]).toMatch(/gateway6: fd32::1 is not a usable address of fd31::\/64/);
    expect(problems(lab('  n: { ipv6: true, subnet6: "fd31::/64" }\n', '  a: { ip6: "fd31:0:0:1::5" }\n'))[0]).toMatch(
      /^netlab.yaml:4: containers.a.ip6: fd31:0:0:1::5 is not a usable address of n's subnet6 fd31::\/64/,
    );
    expect(problems(lab('  n: { ipv6: true, subnet6: "fd31::/64" }\n', '  a: { ip6: "fd31::1" }\n'))[0]).toMatch(/ip6: fd31::1 is the gateway of n/);
    expect(problems(lab('  n: {}\n', '  a: { ip6: "fd31::5" }\n'))[0]).toMatch(/containers.a.ip6: network "n" has no IPv6/);
    expect(problems(lab('  n: { ipv6: true }\n', '  a: { ip6: "fd31::5" }\n'))[0]).toMatch(/needs network "n" to have a "subnet6"/);
    expect(problems(lab('  n: { ipv6: true, subnet6: "fd31::/64" }\n', '  a: { ip6: "nope" }\n'))[0]).toMatch(/"nope" is not an IPv6 address/);
    expect(problems(lab('  n: { ipv4: false }\n', '  a: {}\n'))[0]).toMatch(/networks.n.ipv4: a network needs an address family/);
    expect(problems(lab('  n: { ipv4: false, ipv6: true, subnet: 10.231.0.0/24 }\n', '  a: {}\n'))[0]).toMatch(/networks.n.subnet: the network has "ipv4: false"/);
    expect(problems(lab('  n: { ipv4: false, ipv6: true }\n', '  a: { ip: 10.231.0.5 }\n'))[0]).toMatch(/containers.a.ip: network "n" has "ipv4: false"/);
    const two = problems(lab('  n: { ipv6: true, subnet6: "fd31::/48" }\n  m: { ipv6: true, subnet6: "fd31:0:0:5::/64" }\n', '  a: { networks: [n, m] }\n'));
    expect(two[0]).toMatch(/^netlab.yaml:3: networks.m.subnet6: fd31:0:0:5::\/64 overlaps fd31::\/48, the subnet6 of network "n" \(netlab.yaml:2\)/);
  });
});

describe('isIp6Text', () => {
  const hex = fc.constantFrom('0', '1', 'a', 'F', 'ffff', '0db8', '12345', 'g', '', '1.2.3.4', '255.255.255.255', '01.2.3.4', '256.1.1.1', '1.2.3', '%eth0', '1%2');
  const text = fc.tuple(fc.array(hex, { maxLength: 10 }), fc.integer({ min: -1, max: 10 }), fc.constantFrom(':', '::', ':::')).map(([gs, at, sep]) => {
    if (at < 0 || at > gs.length) return gs.join(':');
    return `${gs.slice(0, at).join(':')}${sep}${gs.slice(at).join(':')}`;
  });

  it("says what node's isIPv6 says of any text without a zone", () => {
    fc.assert(
      fc.property(fc.oneof(text, fc.string({ maxLength: 45 })), (t) => {
        expect(isIp6Text(t)).toBe(isIPv6(t) && !t.includes('%'));
      }),
      { numRuns: 20000 },
    );
  });

  it('takes the forms of RFC 4291 and refuses the near misses', () => {
    for (const t of ['::', '::1', '1::', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '::ffff:1.2.3.4', '1:2:3:4:5:6:1.2.3.4', 'FD31::1']) expect(isIp6Text(t), t).toBe(true);
    for (const t of ['', ':', ':1', '1:', '1:::2', '1::2::3', '1:2:3:4:5:6:7:8:9', '1::2:3:4:5:6:7:8', '1.2.3.4::', '::01.2.3.4', '::1.2.3', '12345::', 'fe80::1%eth0'])
      expect(isIp6Text(t), t).toBe(false);
  });
});
