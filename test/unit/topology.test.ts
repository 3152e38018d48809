import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseTopology, loadTopology, DEMO_FILE } from '../../src/topology/load.js';
import { MAX_ARG_STRLEN, MAX_RULES } from '../../src/topology/limits.js';
import { InputError } from '../../src/errors.js';
import { parse, problems } from '../helpers/topology.js';
import { tempDir } from '../helpers/tmp.js';

describe('topology loading', () => {
  it('loads the built-in demo lab like any other file', () => {
    const t = parse(readFileSync(DEMO_FILE, 'utf8'));
    expect(t.name).toBe('demo');
    expect(t.networks).toMatchObject([{ name: 'netlab0', bridge: 'netlab0', icc: true, ipMasquerade: true, mtu: 1500 }]);
    const web = t.containers.find((c) => c.name === 'web')!;
    expect(web.publish).toEqual([{ hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, proto: 'tcp' }]);
    expect(t.containers.find((c) => c.name === 'client')!.links).toEqual([{ target: 'web', alias: 'webalias' }]);
  });

  it("defaults the lab name to the folder's and gives a network when none is named", () => {
    const t = parse('containers:\n  a: {}\n');
    expect(t.name).toBe('folder');
    expect(t.networks).toHaveLength(1);
    expect(t.networks[0]!.bridge).toMatch(/^nlbr[0-9a-f]{8}$/);
    expect(t.containers[0]!.networks).toEqual(['default']);
  });

  it("adds published ports to the exposed ones, as Docker's CLI does", () => {
    const t = parse('containers:\n  a: { expose: [53/udp], publish: ["8080:80"] }\n');
    expect(t.containers[0]!.expose).toEqual([
      { port: 53, proto: 'udp' },
      { port: 80, proto: 'tcp' },
    ]);
  });

  it('names the YAML path and line of every problem, all of a kind at once', () => {
    expect(problems('name: lab\ncontainers:\n  web:\n    colour: blue\n    mtu: 9\n')).toEqual([
      'netlab.yaml:4: containers.web.colour: unknown key "colour"',
      'netlab.yaml:5: containers.web.mtu: unknown key "mtu"',
    ]);
    const text = ['name: lab', 'containers:', '  web:', '    publish: ["70000:80"]', '  c:', '    links: [nobody]', ''].join('\n');
    expect(problems(text)).toEqual([
      'netlab.yaml:4: containers.web.publish[0]: host port 70000 is out of range (1-65535)',
      'netlab.yaml:6: containers.c.links[0]: links to "nobody", which is not a container of this lab',
    ]);
    expect(problems('name: Bad Name\n')[0]).toMatch(/^netlab\.yaml:1: name: must be 1-16 characters/);
  });

  it('checks references and addresses across fields', () => {
    const text = [
      'networks:',
      '  n1: { subnet: 10.9.0.0/24 }',
      '  n2: { subnet: 10.9.1.0/24 }',
      'containers:',
      '  a: { networks: [n1], ip: 10.9.1.5 }',
      '  b: { networks: [n2], links: ["a:x"] }',
      '  c: { networks: [n3] }',
      '  d: { networks: [n1], links: [d] }',
      '  e: { networks: [n1], ip: 10.9.0.1 }',
      '',
    ].join('\n');
    const p = problems(text).join('\n');
    expect(p).toContain(':5: containers.a.ip: 10.9.1.5 is not a usable address');
    expect(p).toContain(':6: containers.b.links[0]: links to "a", which shares no network with "b"');
    expect(p).toContain(':7: containers.c.networks[0]: unknown network "n3"');
    expect(p).toContain(':8: containers.d.links[0]: a container cannot link to itself');
    expect(p).toContain(':9: containers.e.ip: 10.9.0.1 is the gateway of n1');
  });

  it('refuses YAML syntax errors, duplicate keys and link cycles', () => {
    expect(problems('containers:\n  a: [\n')[0]).toMatch(/^netlab\.yaml:\d+: YAML syntax/);
    expect(problems('containers:\n  a: {}\n  a: {}\n')[0]).toMatch(/YAML syntax: Map keys must be unique/);
    expect(problems('containers:\n  a: { links: [b] }\n  b: { links: [a] }\n').join()).toContain('links form a cycle: a -> b -> a');
  });

  it('refuses the same host port published twice', () => {
    expect(problems('containers:\n  a: { publish: ["80:80"] }\n  b: { publish: ["80:81"] }\n').join()).toContain('host port 80/tcp is already published by a');
    // [::] holds the port on every IPv6 address; IPv4 and IPv6 addresses do not clash.
    expect(problems('containers:\n  a: { publish: ["[::]:80:80"] }\n  b: { publish: ["[2001:db8::1]:80:81"] }\n').join()).toContain('host port 80/tcp is already published by a');
    expect(() => parseTopology('containers:\n  a: { publish: ["[::]:80:80"] }\n  b: { publish: ["127.0.0.1:80:81"] }\n', { source: 'netlab.yaml', defaultName: 'lab' })).not.toThrow();
  });
});

const net = (subnet: string) => `networks:\n  n: { subnet: ${subnet} }\ncontainers:\n  a: {}\n`;

describe('subnets and addresses', () => {
  it('refuses two networks of one lab on overlapping subnets, naming both lines', () => {
    const text = 'networks:\n  n: { subnet: 10.243.1.0/24 }\n  m: { subnet: 10.243.1.128/25 }\ncontainers:\n  a: { networks: [n] }\n';
    expect(problems(text)).toEqual(['netlab.yaml:3: networks.m.subnet: 10.243.1.128/25 overlaps 10.243.1.0/24, the subnet of network "n" (netlab.yaml:2): each network needs its own addresses']);
    expect(problems(text.replace('10.243.1.128/25', '10.243.1.0/24')).join()).toContain('overlaps 10.243.1.0/24');
    expect(() => parse(text.replace('10.243.1.128/25', '10.243.2.0/24'))).not.toThrow();
  });

  it.each([
    ['127.0.0.0/8', 'loopback'],
    ['127.5.0.0/24', 'loopback'],
    ['224.0.0.0/24', 'multicast'],
    ['239.255.0.0/16', 'multicast'],
    ['0.0.0.0/8', '"this network"'],
    ['0.0.1.0/24', '"this network"'],
    ['240.0.0.0/24', 'reserved'],
    ['255.255.255.0/30', 'reserved'],
    ['169.254.0.0/16', 'link-local'],
    ['169.254.169.0/24', 'link-local'],
  ])('refuses the special subnet %s (%s)', (subnet, what) => {
    expect(problems(net(subnet))).toEqual([expect.stringMatching(new RegExp(`^netlab\\.yaml:2: networks\\.n\\.subnet: ${subnet.replace(/\./g, '\\.')} is in the ${what} range`))]);
  });

  it('takes the ordinary private, shared and documentation ranges', () => {
    for (const s of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '192.0.2.0/24', '198.18.0.0/15', '223.255.255.0/24']) expect(() => parse(net(s)), s).not.toThrow();
  });

  it('refuses underlays and published host addresses that are no host unicast address', () => {
    const hosts = (u: string) => `hosts:\n  vm1: { underlay: ${u} }\ncontainers:\n  a: {}\n`;
    expect(problems(hosts('127.0.0.1'))[0]).toMatch(/:2: hosts\.vm1\.underlay: 127\.0\.0\.1 is in the loopback range/);
    expect(problems(hosts('224.0.0.5'))[0]).toMatch(/is in the multicast range/);
    expect(problems(hosts('0.1.2.3/16'))[0]).toMatch(/is in the "this network" range/);
    expect(() => parse(hosts('169.254.10.1/16'))).not.toThrow(); // a host may have only a link-local address on its underlay
    const pub = (ip: string) => `containers:\n  a: { publish: ["${ip}:8080:80"] }\n`;
    for (const ip of ['224.0.0.1', '255.255.255.255', '0.1.2.3', '240.1.1.1'])
      expect(problems(pub(ip))[0], ip).toMatch(new RegExp(`:2: containers\\.a\\.publish\\[0\\]: host address ${ip.replace(/\./g, '\\.')} is in the`));
    for (const ip of ['0.0.0.0', '127.0.0.1', '127.0.0.2', '169.254.1.1']) expect(() => parse(pub(ip)), ip).not.toThrow();
  });
});

describe('names that reach the wrong container', () => {
  it("refuses a hostname equal to another container's name or host name, naming both", () => {
    expect(problems('containers:\n  db: {}\n  app: { hostname: db }\n')).toEqual([
      'netlab.yaml:3: containers.app.hostname: "db" is also the name of container "db" (netlab.yaml:2): in /etc/hosts the name would reach only one of the two',
    ]);
    // Blamed on the hostname also when the container of that name comes later.
    expect(problems('containers:\n  app: { hostname: db }\n  db: {}\n')[0]).toMatch(/^netlab\.yaml:2: containers\.app\.hostname: "db" is also the name of container "db" \(netlab\.yaml:3\)/);
    expect(problems('containers:\n  a: { hostname: web.example }\n  b: { hostname: WEB.example }\n')[0]).toMatch(
      /:3: containers\.b\.hostname: "WEB\.example" is also the host name of container "a" \(netlab\.yaml:2\)/,
    );
    expect(problems('containers:\n  web: {}\n  Web: {}\n')[0]).toMatch(/:3: containers\.Web: "Web" is also the name of container "web"/);
    expect(() => parse('containers:\n  db: { hostname: db }\n  app: { hostname: db.example }\n')).not.toThrow();
  });
});

describe('files that are not a topology, and odd keys', () => {
  it('requires containers: an empty file, a comment, a name alone or an empty map build no lab', () => {
    for (const text of ['', '# nothing\n', 'name: x\n', 'containers: {}\n'])
      expect(problems(text), JSON.stringify(text)).toContainEqual(expect.stringMatching(/containers: a lab needs at least one container/));
  });

  it('says "networks: {}" names no network (not that there are several)', () => {
    expect(problems('networks: {}\ncontainers:\n  a: {}\n')).toEqual(['netlab.yaml:1: networks: names no network: name at least one, or leave "networks:" out for a default one']);
  });

  it('quotes no more than the start of a line that is no YAML key, so a secret file leaks nothing', () => {
    const shadow = 'root:$6$saltSECRET$hashSECRET:19000:0:99999:7:::\nbob:$6$x$ySECRET:19000::::::\n';
    const out = problems(shadow).join('\n');
    expect(out).toContain('netlab.yaml:1: (top level): unknown key "root…"');
    expect(out).not.toContain('SECRET');
    const ini = '[client]\npassword = hunterSECRET\nuser: admin\n';
    expect(problems(ini).join('\n')).not.toContain('SECRET');
    expect(problems('{"token": "tokSECRET", "x": [1,2}\n').join('\n')).not.toContain('SECRET');
    expect(problems('user: admin\npassword: SECRETpw\n').join('\n')).not.toContain('SECRET');
  });

  it('escapes newlines and other control characters of a key', () => {
    const out = problems('containers:\n  "we\\nb": {}\n  a: { "x\\u001b[2Jy": 1 }\n');
    expect(out.join('\n')).toContain('"we\\nb"');
    expect(out.join('\n')).toContain('containers.a["x\\u001b[2Jy"]: unknown key "x\\u001b[2Jy"');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for raw control characters.
    for (const line of out) expect(line).not.toMatch(/[\u0000-\u001f]/);
  });

  it('shows at most 20 problems and a count of the rest', () => {
    const out = problems(`containers:\n${Array.from({ length: 30 }, (_, i) => `  c${i}: { colour: x }\n`).join('')}`);
    expect(out).toHaveLength(21);
    expect(out[20]).toBe('netlab.yaml: and 10 more problems');
  });
});

describe('what the kernel would refuse once the lab is half built', () => {
  it('refuses NUL bytes in env and command, and strings longer than MAX_ARG_STRLEN', () => {
    expect(problems('containers:\n  a: { env: { X: "a\\0b" } }\n')).toEqual(['netlab.yaml:2: containers.a.env.X: holds a NUL byte, which no environment variable can carry']);
    expect(problems('containers:\n  a: { command: "echo \\0" }\n')).toEqual(['netlab.yaml:2: containers.a.command: holds a NUL byte, which no program argument can carry']);
    expect(problems('containers:\n  a: { command: [sh, "-c", "x\\0"] }\n')[0]).toMatch(/^netlab\.yaml:2: containers\.a\.command\[2\]: holds a NUL byte/);
    expect(problems(`containers:\n  a: { env: { X: "${'v'.repeat(MAX_ARG_STRLEN)}" } }\n`)[0]).toMatch(/containers\.a\.env\.X: is longer than the kernel takes for one variable/);
    expect(problems(`containers:\n  a: { command: "${'v'.repeat(MAX_ARG_STRLEN)}" }\n`)[0]).toMatch(/containers\.a\.command: is longer than the kernel takes for one argument/);
  });

  it('counts link variables into the environment: past 1 MiB is refused at the link that brings the most', () => {
    const big = Array.from({ length: 5 }, (_, i) => `V${i}: "${'x'.repeat(120_000)}"`).join(', ');
    const text = `containers:\n  child: { env: { ${big} } }\n  parent: { links: [child, "child:again"] }\n`;
    expect(problems(text)).toEqual([
      expect.stringMatching(/^netlab\.yaml:3: containers\.parent\.links\[0\]: the environment of "parent" would take \d+ bytes \(\d+ of them from here\): more than the 1048576/),
    ]);
    expect(() => parse(text.replace(', "child:again"', ''))).not.toThrow();
    // Ports make link variables too: 3000 ports, three links.
    expect(problems('containers:\n  a: { expose: ["1-3000"] }\n  b: { links: [a, "a:x", "a:y"] }\n')[0]).toMatch(/containers\.b\.links\[0\]: the environment of "b" would take/);
  });

  it('refuses a lab of more than 20000 firewall rules, blamed on the entry that makes the most', () => {
    // A run of consecutive ports is one rule each way (a range); separate ports are one each.
    const odd = (n: number) => `[${Array.from({ length: n }, (_, i) => 2 * i + 1).join(', ')}]`;
    expect(problems(`containers:\n  a: { expose: ${odd(10001)} }\n  b: { links: [a] }\n`)).toEqual([
      `netlab.yaml:2: containers.a.expose: its 10001 exposed ports, linked once, make 20002 firewall rules (the lab 20002 in all): more than netlab's limit of ${MAX_RULES} per lab`,
    ]);
    const fan = `containers:\n  big: { expose: ${odd(400)} }\n${Array.from({ length: 50 }, (_, i) => `  p${i}: { links: [big] }\n`).join('')}`;
    expect(problems(fan)[0]).toMatch(/:2: containers\.big\.expose: its 400 exposed ports, linked 50 times, make 40000 firewall rules/);
    expect(problems(`containers:\n  a: { publish: ${JSON.stringify(Array.from({ length: 10001 }, (_, i) => `${2 * i + 1}:80`))} }\n`)[0]).toMatch(
      /:2: containers\.a\.publish: its 10001 published ports make 20002/,
    );
    // Ranges stay small: 4000 ports linked twice, 30000 published as one range.
    expect(() => parse('containers:\n  a: { expose: ["1-4000"] }\n  b: { links: [a] }\n  c: { links: [a] }\n')).not.toThrow();
    expect(() => parse('containers:\n  a: { publish: ["1-30000:1-30000"] }\n')).not.toThrow();
  });
});

describe('reading -f', () => {
  const dir = tempDir('read');
  const refused = (file: string) => {
    try {
      loadTopology({ file });
    } catch (e) {
      if (e instanceof InputError) return e.message;
      throw e;
    }
    throw new Error('expected an InputError');
  };

  it('refuses what is no regular file before reading it: a FIFO (no hang), a directory, a device', () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    expect(refused(fifo)).toBe(`${fifo}: is a FIFO (named pipe), not a regular file: give a topology file`);
    expect(refused(dir)).toBe(`${dir}: is a directory, not a regular file: give a topology file`);
    expect(refused('/dev/zero')).toBe('/dev/zero: is a character device, not a regular file: give a topology file');
    symlinkSync('/dev/zero', join(dir, 'zero-link'));
    expect(refused(join(dir, 'zero-link'))).toMatch(/is a character device/);
  });

  it('reads no more than the limit of a huge (sparse) file', () => {
    const huge = join(dir, 'huge.yaml');
    writeFileSync(huge, 'containers:\n  a: {}\n');
    truncateSync(huge, 300 << 20);
    const rss = process.memoryUsage().rss;
    expect(refused(huge)).toBe(`${huge}: the file is larger than 1048576 bytes, netlab's limit for a topology`);
    expect(process.memoryUsage().rss - rss).toBeLessThan(64 << 20);
  });
});

describe('keys given twice', () => {
  it('are found in linear time, also 1 and "1" (one key once read)', () => {
    expect(problems('containers:\n  a: {}\n  b: {}\n  "1": {}\n  1: {}\n')).toEqual(['netlab.yaml:5: YAML syntax: Map keys must be unique']);
    const many = `containers:\n${Array.from({ length: 20_000 }, (_, i) => `  c${i}: {}\n`).join('')}  c0: {}\n`;
    // CPU time, not wall time: other work on the machine must not fail it (the quadratic check took 40 s).
    const cpu = process.cpuUsage();
    expect(problems(many)).toEqual(['netlab.yaml:20002: YAML syntax: Map keys must be unique']);
    const { user, system } = process.cpuUsage(cpu);
    expect((user + system) / 1000).toBeLessThan(5000);
  }, 60_000);
});
