/**
 * The catalogue of hostile and broken input, each through the CLI as a user runs it: exit code
 * 2, a message naming the place (YAML path and line, or the flag), and a kernel that did not
 * change (links, addresses, routes and iptables of the host namespace, the lab's namespaces,
 * /etc/netns and /run/netlab). Runs inside a throwaway host namespace that also holds a route
 * and another lab for the cases that collide with them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CLI, uniqueLab } from '../helpers/kernel.js';
import { defaultBridgeName } from '../../src/model/names.js';

const base = uniqueLab();
const other = `${base}o`;
const hostNs = `test-host-${randomBytes(3).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), 'netlab-bad-'));
let counter = 0;

const inHost = (cmd: string, ...args: string[]) => execa('ip', ['netns', 'exec', hostNs, cmd, ...args], { reject: false, all: true });
const netlab = (args: string[]) =>
  execa('nsenter', [`--net=/run/netns/${hostNs}`, process.execPath, CLI, ...args], { cwd: dir, reject: false, all: true, env: { NETLAB_LOG_LEVEL: 'warn' }, timeout: 30_000 });

async function snapshot(lab: string): Promise<string> {
  const parts = await Promise.all([
    // Carrier state settles on its own after a bridge comes up: not a change anyone made.
    inHost('ip', 'link', 'show').then((r) => r.stdout.replace(/ state \S+/g, '')),
    inHost('ip', '-4', 'addr', 'show').then((r) => r.stdout.replace(/ state \S+/g, '')),
    inHost('ip', '-4', 'route', 'show', 'table', 'all').then((r) => r.stdout),
    inHost('iptables-save').then((r) => r.stdout.replace(/^#.*$/gm, '').replace(/\[\d+:\d+\]/g, '')),
    execa('ip', ['netns', 'list']).then((r) => r.stdout.split('\n').filter((l) => l.startsWith(`netlab-${lab}`)).join('\n')),
  ]);
  const etc = existsSync('/etc/netns') ? readdirSync('/etc/netns').filter((d) => d.startsWith(`netlab-${lab}`)) : [];
  return [...parts, etc.join(','), String(existsSync(`/run/netlab/${lab}`))].join('\n----\n');
}

interface Case {
  what: string;
  /** The file, given the lab's name; `header(lab)` gives the usual start. */
  file?: (lab: string) => string;
  /** Extra CLI arguments instead of `up -f lab.yaml`. */
  args?: (lab: string) => string[];
  /** Text that names the place (path, line), and the reason. */
  where: string | RegExp;
  why?: string | RegExp;
}

const header = (lab: string) => `name: ${lab}\nnetworks:\n  n: { subnet: 10.104.40.0/24 }\ncontainers:\n`;
const body = (text: string) => (lab: string) => header(lab) + text;
const raw = (text: (lab: string) => string) => text;

const cases: Case[] = [
  // Malformed YAML
  { what: 'an unclosed flow sequence', file: raw((l) => `name: ${l}\ncontainers: {web: [\n`), where: /lab\.yaml:\d+: YAML syntax/ },
  { what: 'tabs as indentation', file: raw((l) => `name: ${l}\ncontainers:\n\tweb: {}\n`), where: 'lab.yaml:3: YAML syntax', why: 'Tabs' },
  { what: 'a duplicated container key', file: body('  web: {}\n  web: {}\n'), where: 'lab.yaml:6: YAML syntax', why: /unique/ },
  { what: 'a list at the top level', file: raw(() => '- web\n- db\n'), where: '(top level)' },
  { what: 'a scalar at the top level', file: raw(() => 'hello\n'), where: '(top level)' },
  { what: 'containers given as a list', file: raw((l) => `name: ${l}\ncontainers:\n  - web\n`), where: 'lab.yaml:3: containers' },
  { what: 'an unknown top-level key', file: raw((l) => `name: ${l}\ncontaners:\n  web: {}\n`), where: 'lab.yaml:2: contaners', why: 'unknown key' },
  { what: 'an unknown container key', file: body('  web: { publsh: ["80"] }\n'), where: 'lab.yaml:5: containers.web.publsh', why: 'unknown key' },
  { what: 'an unknown network key', file: raw((l) => `name: ${l}\nnetworks:\n  n: { subnett: 10.104.40.0/24 }\ncontainers: { a: {} }\n`), where: 'networks.n.subnett', why: 'unknown key' },
  { what: 'a NUL byte in a name', file: body('  "we\\0b": {}\n'), where: 'containers' },
  // Names: shell metacharacters, path separators, length
  { what: 'a container name with ; and spaces', file: body('  "web;rm -rf /": {}\n'), where: 'containers', why: 'must start with a letter or digit' },
  { what: 'a container name with $( )', file: body('  "$(reboot)": {}\n'), where: 'containers', why: 'must start with a letter or digit' },
  { what: 'a container name with backticks', file: body('  "a`id`": {}\n'), where: 'containers', why: 'must start with a letter or digit' },
  { what: 'a container name with ../', file: body('  "../../etc": {}\n'), where: 'containers', why: 'must start with a letter or digit' },
  { what: 'a container name with a slash', file: body('  "a/b": {}\n'), where: 'containers', why: 'must start with a letter or digit' },
  { what: 'a container name of 33 characters', file: body(`  ${'c'.repeat(33)}: {}\n`), where: 'containers', why: 'at most 32' },
  { what: 'a lab name with ; and capitals', file: raw(() => 'name: "Lab;x"\ncontainers: { a: {} }\n'), where: 'lab.yaml:1: name' },
  { what: 'a lab name of 17 characters', file: raw(() => `name: ${'l'.repeat(17)}\ncontainers: { a: {} }\n`), where: 'lab.yaml:1: name' },
  { what: 'a lab name with ../', file: raw(() => 'name: ../x\ncontainers: { a: {} }\n'), where: 'lab.yaml:1: name' },
  { what: 'a lab name with a newline', file: raw(() => 'name: "a\\nb"\ncontainers: { a: {} }\n'), where: 'lab.yaml:1: name' },
  { what: 'a --lab flag with a path', args: () => ['down', '--lab', '../etc'], where: '--lab' },
  { what: 'a missing topology file', args: () => ['up', '-f', 'nope.yaml'], where: 'nope.yaml: cannot read the topology file' },
  // Interface names
  { what: 'a bridge name of 16 bytes', file: raw((l) => `name: ${l}\nnetworks:\n  n: { bridge: abcdefghijklmnop }\ncontainers: { a: {} }\n`), where: 'lab.yaml:3: networks.n.bridge', why: '15 bytes' },
  { what: 'a bridge name with a slash', file: raw((l) => `name: ${l}\nnetworks:\n  n: { bridge: br/0 }\ncontainers: { a: {} }\n`), where: 'networks.n.bridge' },
  { what: 'a bridge name with a space', file: raw((l) => `name: ${l}\nnetworks:\n  n: { bridge: "br 0" }\ncontainers: { a: {} }\n`), where: 'networks.n.bridge' },
  { what: "a bridge name in netlab's veth namespace (nlv...)", file: raw((l) => `name: ${l}\nnetworks:\n  n: { bridge: nlv12345678 }\ncontainers: { a: {} }\n`), where: 'lab.yaml:3: networks.n.bridge', why: 'veth' },
  { what: 'two networks on one bridge', file: raw((l) => `name: ${l}\nnetworks:\n  n: { bridge: tbr0 }\n  m: { bridge: tbr0 }\ncontainers: { a: { networks: [n] } }\n`), where: 'lab.yaml:4: networks.m.bridge', why: 'already used by network "n"' },
  {
    what: "a bridge name that collides with another network's generated name",
    file: raw((l) => `name: ${l}\nnetworks:\n  n: { bridge: ${defaultBridgeName(l, 'm')} }\n  m: {}\ncontainers: { a: { networks: [n] } }\n`),
    where: 'networks.m',
    why: 'already used by network "n"',
  },
  { what: "a bridge name that is one of the host's interfaces", file: raw((l) => `name: ${l}\nnetworks:\n  n: { bridge: thost0, subnet: 10.104.41.0/24 }\ncontainers: { a: {} }\n`), where: 'link thost0 (no netlab mark)' },
  // Duplicates
  { what: 'a network listed twice', file: body('  web: { networks: [n, n] }\n'), where: 'lab.yaml:5: containers.web.networks[1]', why: 'listed twice' },
  { what: 'one static address for two containers', file: body('  a: { ip: 10.104.40.9 }\n  b: { ip: 10.104.40.9 }\n'), where: 'lab.yaml:6: containers.b.ip', why: 'already given to container "a"' },
  { what: 'one host port published twice', file: body('  a: { publish: ["20550:80"] }\n  b: { publish: ["20550:81"] }\n'), where: 'lab.yaml:6: containers.b.publish[0]', why: 'already published by a' },
  // Subnets and addresses
  { what: "a subnet that overlaps a host route", file: raw((l) => `name: ${l}\nnetworks:\n  n: { subnet: 10.104.200.0/25 }\ncontainers: { a: {} }\n`), where: 'networks.n.subnet', why: 'thost0' },
  { what: 'a subnet that overlaps another lab', file: raw((l) => `name: ${l}\nnetworks:\n  n: { subnet: 10.104.201.128/25 }\ncontainers: { a: {} }\n`), where: 'networks.n.subnet', why: `lab ${other}` },
  { what: 'a /33 subnet', file: raw((l) => `name: ${l}\nnetworks:\n  n: { subnet: 10.104.40.0/33 }\ncontainers: { a: {} }\n`), where: 'lab.yaml:3: networks.n.subnet' },
  { what: 'a subnet with host bits set', file: raw((l) => `name: ${l}\nnetworks:\n  n: { subnet: 10.104.40.1/24 }\ncontainers: { a: {} }\n`), where: 'networks.n.subnet', why: 'host bits zero' },
  { what: 'a /31 subnet', file: raw((l) => `name: ${l}\nnetworks:\n  n: { subnet: 10.104.40.0/31 }\ncontainers: { a: {} }\n`), where: 'networks.n.subnet', why: 'between /8 and /30' },
  { what: 'a static address outside the subnet', file: body('  a: { ip: 10.104.99.5 }\n'), where: 'lab.yaml:5: containers.a.ip', why: 'not a usable address' },
  { what: "a static address equal to the gateway", file: body('  a: { ip: 10.104.40.1 }\n'), where: 'containers.a.ip', why: 'is the gateway' },
  { what: 'the broadcast address as a static address', file: body('  a: { ip: 10.104.40.255 }\n'), where: 'containers.a.ip', why: 'not a usable address' },
  { what: 'an IPv6 static address', file: body('  a: { ip: "fe80::1" }\n'), where: 'containers.a.ip', why: 'not an IPv4 address' },
  { what: 'a static address on a network the container is not on', file: body('  a: { ip: { m: 10.104.40.5 } }\n'), where: 'containers.a.ip.m', why: 'not on network "m"' },
  { what: 'a gateway outside the subnet', file: raw((l) => `name: ${l}\nnetworks:\n  n: { subnet: 10.104.40.0/24, gateway: 10.104.41.1 }\ncontainers: { a: {} }\n`), where: 'networks.n.gateway' },
  { what: 'more containers than the subnet has addresses', file: raw((l) => `name: ${l}\nnetworks:\n  n: { subnet: 10.104.40.0/30 }\ncontainers: { a: {}, b: {} }\n`), where: 'lab.yaml:3: networks.n.subnet', why: 'do not fit' },
  // Ports
  { what: 'a host port out of range', file: body('  a: { publish: ["70000:80"] }\n'), where: 'lab.yaml:5: containers.a.publish[0]', why: 'out of range' },
  { what: 'a port that is not a number', file: body('  a: { publish: ["abc"] }\n'), where: 'containers.a.publish[0]', why: 'not a port' },
  { what: 'an unknown protocol', file: body('  a: { publish: ["20551:80/icmp"] }\n'), where: 'containers.a.publish[0]', why: 'protocol "icmp"' },
  { what: 'ranges of different lengths', file: body('  a: { publish: ["20552-20554:80-81"] }\n'), where: 'containers.a.publish[0]', why: 'invalid ranges' },
  { what: 'a range that ends before it starts', file: body('  a: { publish: ["20560-20555:80"] }\n'), where: 'containers.a.publish[0]', why: 'ends before it starts' },
  { what: 'port 0 exposed', file: body('  a: { expose: [0] }\n'), where: 'containers.a.expose[0]', why: 'out of range' },
  { what: 'a negative port', file: body('  a: { expose: [-1] }\n'), where: 'containers.a.expose[0]' },
  { what: 'a host address that is not IPv4', file: body('  a: { publish: ["1.2.3:20556:80"] }\n'), where: 'containers.a.publish[0]', why: 'not an IPv4 address' },
  { what: "a host port another lab publishes", file: body('  a: { publish: ["20540:80"] }\n'), where: 'containers.a.publish', why: 'already in use' },
  // Links
  { what: 'a link to itself', file: body('  a: { links: [a] }\n'), where: 'lab.yaml:5: containers.a.links[0]', why: 'itself' },
  { what: 'a cycle of links', file: body('  a: { links: [b] }\n  b: { links: [c] }\n  c: { links: [a] }\n'), where: 'containers.a.links', why: 'cycle: a -> b -> c -> a' },
  { what: 'a link to an unknown container', file: body('  a: { links: [nobody] }\n'), where: 'containers.a.links[0]', why: '"nobody", which is not a container' },
  { what: 'a link alias with $( )', file: body('  a: {}\n  b: { links: ["a:$(id)"] }\n'), where: 'containers.b.links[0]', why: 'not a valid name' },
  { what: 'a link with too many colons', file: body('  a: {}\n  b: { links: ["a:b:c"] }\n'), where: 'containers.b.links[0]', why: 'bad format' },
  // Other fields
  { what: 'an unknown network', file: body('  a: { networks: [nowhere] }\n'), where: 'containers.a.networks[0]', why: 'unknown network "nowhere"' },
  { what: 'no networks with several to choose from', file: raw((l) => `name: ${l}\nnetworks: { n: {}, m: {} }\ncontainers:\n  a: {}\n`), where: 'lab.yaml:4: containers.a', why: 'more than one' },
  { what: 'an env name with a space', file: body('  a: { env: { "A B": x } }\n'), where: 'containers.a.env', why: 'not a variable name' },
  { what: 'a host name with ;', file: body('  a: { hostname: "h;reboot" }\n'), where: 'containers.a.hostname', why: 'not a valid host name' },
  { what: 'an MTU of 100', file: raw((l) => `name: ${l}\nnetworks:\n  n: { mtu: 100 }\ncontainers: { a: {} }\n`), where: 'networks.n.mtu' },
  { what: 'an empty command list', file: body('  a: { command: [] }\n'), where: 'containers.a.command' },
  // Size and shape attacks
  { what: '10,000 containers', file: (l) => `name: ${l}\ncontainers:\n${Array.from({ length: 10_000 }, (_, i) => `  c${i}: {}\n`).join('')}`, where: 'lab.yaml:2: containers', why: "10000 containers exceed netlab's limit of 1000" },
  { what: '100 networks', file: (l) => `name: ${l}\nnetworks:\n${Array.from({ length: 100 }, (_, i) => `  n${i}: {}\n`).join('')}containers: {}\n`, where: 'networks', why: 'limit of 64' },
  {
    what: 'an alias bomb (billion laughs)',
    file: (l) =>
      `name: ${l}\nx0: &a0 [x, x, x, x, x, x, x, x, x]\n` + Array.from({ length: 8 }, (_, i) => `x${i + 1}: &a${i + 1} [${Array(9).fill(`*a${i}`).join(', ')}]\n`).join(''),
    where: 'YAML',
    why: 'resource exhaustion',
  },
  { what: 'flow nesting 100,000 deep', file: (l) => `name: ${l}\ncontainers: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`, where: 'lab.yaml:2:', why: 'nested deeper than 32' },
  { what: 'block nesting 1,000 deep', file: (l) => `name: ${l}\ncontainers:\n${Array.from({ length: 1000 }, (_, i) => `${' '.repeat(2 * i + 2)}a${i}:`).join('\n')}\n`, where: 'lab.yaml:', why: 'nested deeper than 32' },
  { what: 'a 2 MiB file', file: (l) => `name: ${l}\ncontainers: {}\n${'# padding\n'.repeat(210_000)}`, where: 'lab.yaml:', why: 'larger than 1048576 bytes' },
  // Multi-host keys
  { what: 'a container on an unknown host', file: raw((l) => `name: ${l}\nhosts:\n  vm1: { underlay: 10.104.41.11 }\ncontainers:\n  a: { host: vm9 }\n`), where: 'lab.yaml:5: containers.a.host', why: 'unknown host "vm9"' },
  { what: 'a VNI of 0', file: raw((l) => `name: ${l}\nhosts:\n  vm1: { underlay: 10.104.41.11 }\nnetworks:\n  n: { subnet: 10.104.42.0/24, vxlan: { vni: 0 } }\ncontainers: { a: {} }\n`), where: 'lab.yaml:5: networks.n.vxlan.vni', why: 'between 1 and 16777215' },
  { what: 'a VNI of 2^24', file: raw((l) => `name: ${l}\nhosts:\n  vm1: { underlay: 10.104.41.11 }\nnetworks:\n  n: { subnet: 10.104.42.0/24, vxlan: { vni: 16777216 } }\ncontainers: { a: {} }\n`), where: 'lab.yaml:5: networks.n.vxlan.vni', why: 'between 1 and 16777215' },
  { what: 'an underlay that is not an IPv4 address', file: raw((l) => `name: ${l}\nhosts:\n  vm1: { underlay: "vm1;reboot" }\ncontainers: { a: {} }\n`), where: 'lab.yaml:3: hosts.vm1.underlay', why: 'not an IPv4 address' },
  { what: 'two hosts with one underlay address', file: raw((l) => `name: ${l}\nhosts:\n  vm1: { underlay: 10.104.41.11 }\n  vm2: { underlay: 10.104.41.11 }\ncontainers: { a: {} }\n`), where: 'lab.yaml:4: hosts.vm2.underlay', why: 'already the underlay of host "vm1"' },
  { what: 'an overlay without a subnet', file: raw((l) => `name: ${l}\nhosts:\n  vm1: { underlay: 10.104.41.11 }\nnetworks:\n  n: { vxlan: { vni: 5 } }\ncontainers: { a: {} }\n`), where: 'networks.n.vxlan', why: 'needs a "subnet"' },
  { what: 'an overlay in a lab without hosts', file: raw((l) => `name: ${l}\nnetworks:\n  n: { subnet: 10.104.40.0/24, vxlan: { vni: 5 } }\ncontainers: { a: {} }\n`), where: 'networks.n.vxlan', why: 'needs "hosts:"' },
  { what: 'a --host that is not in the file', args: () => ['up', '-f', 'lab.yaml', '--host', 'vm9'], file: raw((l) => `name: ${l}\nhosts:\n  vm1: { underlay: 10.104.41.11 }\ncontainers: { a: {} }\n`), where: '--host', why: 'unknown host "vm9"' },
  // Another file for a running lab, and an output path that cannot be written
  {
    what: 'up from another file that names a running lab (a copy of its file elsewhere)',
    file: raw(() => `name: ${other}\nnetworks:\n  n: { subnet: 10.104.201.0/24 }\ncontainers:\n  web: { publish: ["20540:80"] }\n`),
    where: new RegExp(`lab "${other}" is up from \\S+/other\\.yaml, not from \\S+/lab\\.yaml`),
    why: /-l\/--lab NAME.*--force/,
  },
  {
    what: 'down from another file that names a running lab',
    args: () => ['down', '-f', 'lab.yaml'],
    file: raw(() => `name: ${other}\ncontainers:\n  web: {}\n`),
    where: new RegExp(`lab "${other}" is up from \\S+/other\\.yaml, not from \\S+/lab\\.yaml`),
    why: `netlab down -l ${other}`,
  },
  { what: 'graph -o into a folder that does not exist', args: () => ['graph', '-f', 'other.yaml', '--format', 'dot', '-o', '/nonexistent-netlab/lab.dot'], where: '-o/--output: cannot write /nonexistent-netlab/lab.dot', why: 'no such file or directory' },
  { what: 'graph -o onto a folder', args: () => ['graph', '-f', 'other.yaml', '--format', 'dot', '-o', '/tmp'], where: '-o/--output: cannot write /tmp', why: 'illegal operation on a directory' },
  { what: 'a multi-host lab on a machine with none of its underlay addresses', file: raw((l) => `name: ${l}\nhosts:\n  vm1: { underlay: 10.104.41.11 }\ncontainers: { a: {} }\n`), where: 'hosts', why: 'none of the hosts\' underlay addresses' },
];

beforeAll(async () => {
  await execa('ip', ['netns', 'add', hostNs]);
  await inHost('ip', 'link', 'set', 'lo', 'up');
  // A route of the host, and another lab, for the cases that collide with them.
  await inHost('ip', 'link', 'add', 'thost0', 'type', 'bridge');
  await inHost('ip', 'addr', 'add', '10.104.200.1/24', 'dev', 'thost0');
  await inHost('ip', 'link', 'set', 'thost0', 'up');
  writeFileSync(join(dir, 'other.yaml'), `name: ${other}\nnetworks:\n  n: { subnet: 10.104.201.0/24 }\ncontainers:\n  web: { publish: ["20540:80"] }\n`);
  const r = await netlab(['up', '-f', 'other.yaml']);
  if (r.exitCode !== 0) throw new Error(r.all);
  const br = await inHost('ip', 'link', 'show', 'dev', 'thost0');
  if (br.exitCode !== 0) throw new Error(br.all);
});

afterAll(async () => {
  await netlab(['down', '--lab', other]);
  await execa('ip', ['netns', 'del', hostNs], { reject: false });
  rmSync(dir, { recursive: true, force: true });
});

describe(`bad input: ${cases.length} cases, each refused with exit code 2, its place named, the kernel unchanged`, () => {
  it('has at least 40 cases', () => expect(cases.length).toBeGreaterThanOrEqual(40));

  it.each(cases.map((c) => [c.what, c] as const))('%s', async (_what, c) => {
    const lab = `${base}${(counter++).toString(36)}`;
    const args = c.args ? c.args(lab) : ['up', '-f', 'lab.yaml'];
    if (c.file) writeFileSync(join(dir, 'lab.yaml'), c.file(lab));
    const before = await snapshot(lab);
    const r = await netlab(args);
    expect(r.timedOut, 'refused without hanging (30 s)').toBe(false);
    expect(r.exitCode, r.all).toBe(2);
    if (typeof c.where === 'string') expect(r.stderr).toContain(c.where);
    else expect(r.stderr).toMatch(c.where);
    if (c.why !== undefined) {
      if (typeof c.why === 'string') expect(r.stderr).toContain(c.why);
      else expect(r.stderr).toMatch(c.why);
    }
    expect(r.stderr).not.toContain('unexpected error');
    expect(r.stdout).toBe('');
    expect(await snapshot(lab)).toBe(before);
  });

});
