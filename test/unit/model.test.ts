import { describe, expect, it } from 'vitest';
import { formatCidr, parseCidr, parseIp, formatIp } from '../../src/model/ipv4.js';
import { allocateAddresses, pickHostPort, pickSubnet, PoolExhaustedError } from '../../src/model/ipam.js';
import { IFNAMSIZ_MAX, labNameFromFolder, macFromIp, vethHostName, defaultBridgeName, chain } from '../../src/model/names.js';
import { eachPort, parseExpose, parsePublish, PortSpecError } from '../../src/model/ports.js';
import { linkEnv, parseLink } from '../../src/model/links.js';
import { hostsFile, resolvConf } from '../../src/model/etcfiles.js';
import { resolveLab, SubnetTakenError } from '../../src/model/lab.js';
import { parseTopology } from '../../src/topology/load.js';
import type { Topology } from '../../src/topology/types.js';
import { InputError } from '../../src/errors.js';
import { emptyHostContext } from '../helpers/context.js';

const cidr = (t: string) => parseCidr(t)!;

describe('ipv4 and IPAM', () => {
  it('parses and formats addresses and subnets', () => {
    expect(formatIp(parseIp('172.31.0.2')!)).toBe('172.31.0.2');
    expect(parseIp('256.1.1.1')).toBeUndefined();
    expect(parseCidr('172.31.0.1/24')).toBeUndefined();
    expect(formatCidr(parseCidr('172.31.0.1/24', false)!)).toBe('172.31.0.0/24');
  });

  it('picks the first /24 that overlaps no route, address or other lab', () => {
    expect(formatCidr(pickSubnet([]))).toBe('172.31.0.0/24');
    expect(formatCidr(pickSubnet([cidr('172.31.0.0/24'), cidr('172.31.1.0/24')]))).toBe('172.31.2.0/24');
    expect(formatCidr(pickSubnet([cidr('172.31.0.0/16')]))).toBe('172.30.0.0/24');
    expect(() => pickSubnet([cidr('0.0.0.0/0')])).toThrow(PoolExhaustedError);
  });

  it('gives the lowest free address, keeps statics and previous addresses, never twice', () => {
    const s = cidr('10.1.0.0/29');
    const got = allocateAddresses(s, parseIp('10.1.0.1')!, [{ name: 'a' }, { name: 'b', fixed: parseIp('10.1.0.2') }, { name: 'c', previous: parseIp('10.1.0.5') }, { name: 'd' }]);
    expect([...got].map(([n, ip]) => `${n}=${formatIp(ip)}`)).toEqual(['b=10.1.0.2', 'c=10.1.0.5', 'a=10.1.0.3', 'd=10.1.0.4']);
    expect(() => allocateAddresses(cidr('10.1.0.0/30'), parseIp('10.1.0.1')!, [{ name: 'a' }, { name: 'b' }])).toThrow(/no free address/);
  });

  it('picks host ports sequentially, skipping used ones', () => {
    expect(pickHostPort({ start: 8000, end: 8002 }, new Set([8000]))).toBe(8001);
    expect(() => pickHostPort({ start: 8000, end: 8000 }, new Set([8000]))).toThrow(PoolExhaustedError);
  });
});

describe('names', () => {
  it('keeps every device name within IFNAMSIZ and the lab chains within 28 bytes', () => {
    const lab = 'a'.repeat(16);
    expect(vethHostName(lab, 'c'.repeat(32), 'n'.repeat(32)).length).toBeLessThanOrEqual(IFNAMSIZ_MAX);
    expect(defaultBridgeName(lab, 'x').length).toBeLessThanOrEqual(IFNAMSIZ_MAX);
    expect(chain.ports(lab).length).toBeLessThanOrEqual(28);
    expect(vethHostName('l', 'a', 'n')).not.toBe(vethHostName('l', 'b', 'n'));
  });

  it('derives a lab name from a folder and the MAC from the address like Docker <= 27', () => {
    expect(labNameFromFolder('My Project (v2)')).toBe('my-project-v2');
    expect(labNameFromFolder('___')).toBe('lab');
    expect(macFromIp(parseIp('172.17.0.2')!)).toBe('02:42:ac:11:00:02');
  });
});

describe('port specs', () => {
  it('parses every publish form Docker accepts', () => {
    expect(parsePublish('8080:80')).toEqual([{ hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, proto: 'tcp' }]);
    expect(parsePublish('127.0.0.1:8080:80')[0]!.hostIp).toBe('127.0.0.1');
    expect(parsePublish('127.0.0.1::80')[0]).toMatchObject({ hostIp: '127.0.0.1', hostPort: 0, containerPort: 80 });
    expect(parsePublish('5353:53/udp')[0]!.proto).toBe('udp');
    expect(parsePublish('8000-8002:80-82')).toEqual([{ hostIp: '0.0.0.0', hostPort: 8000, containerPort: 80, proto: 'tcp', count: 3 }]);
    expect(
      parsePublish('8000-8002:80-82')
        .flatMap(eachPort)
        .map((b) => `${b.hostPort}:${b.containerPort}`),
    ).toEqual(['8000:80', '8001:81', '8002:82']);
    expect(parsePublish('8000-9000:80')).toEqual([{ hostIp: '0.0.0.0', hostPort: 0, hostRange: { start: 8000, end: 9000 }, containerPort: 80, proto: 'tcp' }]);
    expect(parsePublish(80)[0]).toMatchObject({ hostPort: 0, containerPort: 80 });
  });

  it('refuses bad specs with a message that says why', () => {
    expect(() => parsePublish('70000:80')).toThrow(/70000 is out of range/);
    expect(() => parsePublish('8000-8001:80-82')).toThrow(/invalid ranges/);
    expect(() => parsePublish('80/icmp')).toThrow(PortSpecError);
    expect(() => parsePublish('a.b.c.d:1:2')).toThrow(/not an IPv4 address/);
    expect(() => parseExpose('90-80')).toThrow(/ends before it starts/);
    expect(parseExpose('7000-7002/udp')).toHaveLength(3);
  });
});

describe('links (Docker <= 27 format)', () => {
  it('writes the variables of the seed lecture exactly', () => {
    const env = linkEnv('client', 'webalias', { name: 'web', ip: '172.17.0.2', ports: [{ port: 80, proto: 'tcp' }], env: { PATH: '/bin', GREETING: 'hi' } });
    expect(env).toEqual([
      ['WEBALIAS_PORT', 'tcp://172.17.0.2:80'],
      ['WEBALIAS_PORT_80_TCP', 'tcp://172.17.0.2:80'],
      ['WEBALIAS_PORT_80_TCP_ADDR', '172.17.0.2'],
      ['WEBALIAS_PORT_80_TCP_PORT', '80'],
      ['WEBALIAS_PORT_80_TCP_PROTO', 'tcp'],
      ['WEBALIAS_NAME', '/client/webalias'],
      ['WEBALIAS_ENV_GREETING', 'hi'],
    ]);
  });

  it('adds range variables for consecutive ports, lowest port (TCP on a tie) as _PORT, and sanitises the alias', () => {
    const ports = [8002, 8000, 8001].map((port) => ({ port, proto: 'tcp' as const }));
    const env = new Map(linkEnv('p', 'my-db', { name: 'db', ip: '10.0.0.5', ports: [...ports, { port: 8000, proto: 'udp' }], env: {} }));
    expect(env.get('MY_DB_PORT')).toBe('tcp://10.0.0.5:8000');
    expect(env.get('MY_DB_PORT_8000_TCP_START')).toBe('tcp://10.0.0.5:8000');
    expect(env.get('MY_DB_PORT_8000_TCP_PORT_START')).toBe('8000');
    expect(env.get('MY_DB_PORT_8000_UDP_ADDR')).toBe('10.0.0.5');
    expect(env.get('MY_DB_NAME')).toBe('/p/my-db');
  });

  it('parses link specs as Docker does', () => {
    expect(parseLink('web')).toEqual({ target: 'web', alias: 'web' });
    expect(parseLink('web:webalias')).toEqual({ target: 'web', alias: 'webalias' });
    expect(() => parseLink('a:b:c')).toThrow('bad format for links: a:b:c');
  });
});

describe('/etc files', () => {
  it('writes hosts like libnetwork: defaults, links, own line last, tab separated', () => {
    const text = hostsFile([{ ip: '172.17.0.2', names: ['webalias', 'web'] }], { ip: '172.17.0.3', names: ['client'] }, false);
    expect(text).toBe('127.0.0.1\tlocalhost\n172.17.0.2\twebalias web\n172.17.0.3\tclient\n');
    expect(hostsFile([], { ip: '1.2.3.4', names: ['x'] }, true)).toContain('::1\tlocalhost ip6-localhost ip6-loopback\n');
  });

  it('drops loopback resolvers and falls back to Google DNS, as the legacy transform does', () => {
    const out = resolvConf('nameserver 127.0.0.53\nsearch example.org\noptions edns0\n', '/etc/resolv.conf');
    expect(out).toContain('nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch example.org\noptions edns0');
    expect(out).toContain('# Used default nameservers.');
    expect(resolvConf('nameserver 192.0.2.53\nnameserver fd00::1\n', 'x')).toMatch(/nameserver 192\.0\.2\.53\n(?!nameserver)/);
  });
});

describe('resolveLab on long inputs', () => {
  const topo = (text: string) => parseTopology(text, { source: 'lab.yaml', defaultName: 'big' });
  /** A topology the loader would refuse (over its limits), to show resolveLab itself holds. */
  const unchecked = (expose: number, links: number): Topology => {
    const ports = Array.from({ length: expose }, (_, i) => ({ port: i + 1, proto: 'tcp' as const }));
    const c = (name: string, extra: Partial<Topology['containers'][number]>) => ({
      name,
      hostname: name,
      networks: ['n'],
      staticIps: {},
      expose: [],
      publish: [],
      publishAll: false,
      links: [],
      env: {},
      ...extra,
    });
    return {
      name: 'big',
      source: 'lab.yaml',
      firewall: 'iptables',
      hosts: [],
      networks: [{ name: 'n', bridge: 'nlbig', icc: true, ipMasquerade: true, internal: false, mtu: 1500, driver: 'bridge' }],
      containers: [c('a', { expose: ports }), ...Array.from({ length: links }, (_, i) => c(`p${i}`, { links: [{ target: 'a', alias: 'a' }] }))],
    };
  };

  it('picks automatic host ports in linear time (60,000 ports)', () => {
    const t = topo('networks:\n  n: { subnet: 10.243.0.0/24 }\ncontainers:\n  a: {}\n');
    t.containers[0]!.publish = [...parsePublish('1-30000'), ...parsePublish('30001-60000/udp')]; // past the loader's limit of rules
    // CPU time, not wall time: other work on the machine must not fail it (quadratic took minutes).
    const cpu = process.cpuUsage();
    const lab = resolveLab(t, { ...emptyHostContext, ephemeralRange: { start: 1024, end: 65535 }, usedHostPorts: new Map([['1024/tcp', 'a listening socket']]) });
    const { user, system } = process.cpuUsage(cpu);
    expect((user + system) / 1000).toBeLessThan(3000);
    const ports = lab.containers[0]!.ports;
    expect(ports).toHaveLength(60000);
    expect(ports[0]!.hostPort).toBe(1025);
    expect(ports[29999]!.hostPort).toBe(31024);
    expect(ports[30000]).toMatchObject({ proto: 'udp', hostPort: 1024 });
    expect(new Set(ports.map((p) => `${p.hostPort}/${p.proto}`)).size).toBe(60000);
  }, 30_000);

  it('names the publish entry and its line when a range has no free host port left', () => {
    const t = topo('networks:\n  n: { subnet: 10.243.0.0/24 }\ncontainers:\n  a:\n    publish:\n      - "43000-43001:80"\n      - "43000-43001:81"\n      - "43000-43001:82"\n');
    expect(() => resolveLab(t, emptyHostContext)).toThrow(
      new InputError([{ path: 'containers.a.publish[2]', line: 8, message: 'no free host port left for container port 82/tcp in its host range 43000-43001' }], 'lab.yaml'),
    );
    const auto = topo('networks:\n  n: { subnet: 10.243.0.0/24 }\ncontainers:\n  a: { expose: [1, 2], publish: ["80"] }\n  b: { publish: ["9"], publishAll: true, expose: [7] }\n');
    const narrow = { ...emptyHostContext, ephemeralRange: { start: 43000, end: 43001 } };
    expect(() => resolveLab(auto, narrow)).toThrow(
      /^lab\.yaml: containers\.b\.publishAll: no free host port left for container port 7\/tcp in the host's range for automatic ports \(ip_local_port_range 43000-43001\)$/,
    );
  });

  it('names file:line of a subnet that overlaps the host', () => {
    const t = topo('networks:\n  n: {}\n  m: { subnet: 10.243.5.0/24 }\ncontainers:\n  a: { networks: [n] }\n');
    expect(() => resolveLab(t, { ...emptyHostContext, takenSubnets: [{ cidr: cidr('10.243.0.0/16'), by: 'route 10.243.0.0/16 dev eth0' }] })).toThrow(
      new SubnetTakenError('networks.m.subnet', 'lab.yaml:3: networks.m.subnet: 10.243.5.0/24 overlaps route 10.243.0.0/16 dev eth0'),
    );
  });

  it('picks (or keeps) no subnet that overlaps one the lab gives another network', () => {
    const t = topo('networks:\n  auto: {}\n  given: { subnet: 172.31.0.0/24 }\ncontainers:\n  a: { networks: [auto, given] }\n');
    const lab = resolveLab(t, emptyHostContext);
    expect(lab.networks.map((n) => formatCidr(n.subnet))).toEqual(['172.31.1.0/24', '172.31.0.0/24']);
    const kept = resolveLab(t, { ...emptyHostContext, previous: { subnets: { auto: '172.31.0.0/24' }, addresses: {}, hostPorts: {} } });
    expect(formatCidr(kept.networks[0]!.subnet)).toBe('172.31.1.0/24');
  });

  it('builds link variables for 65,535 ports without overflowing the stack', () => {
    const lab = resolveLab(unchecked(65535, 1), emptyHostContext);
    expect(lab.containers[1]!.env.length).toBe(4 * 65535 + 8); // and _PORT, six range variables, _NAME
  });
});
