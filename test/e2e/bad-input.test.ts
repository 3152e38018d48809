/**
 * The catalogue of hostile and broken input, each through the CLI as a user runs it: exit code
 * 2, a message naming the place (YAML path and line, or the flag), and a kernel that did not
 * change (links, addresses, routes and iptables of the host namespace, the lab's namespaces,
 * /etc/netns and /run/netlab). Runs inside a throwaway host namespace that also holds a route
 * and another lab for the cases that collide with them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { existsSync, mkdirSync, readdirSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CLI, uniqueLab } from '../helpers/kernel.js';
import { freePorts } from '../helpers/ports.js';
import { defaultBridgeName } from '../../src/model/names.js';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

const base = uniqueLab();
const other = `${base}o`;
/** The port the other lab publishes, which a case then asks for again. */
const OTHER_PORT = await freePorts();
const hostNs = `test-host-${randomBytes(3).toString('hex')}`;
const dir = tempDir('bad');
let counter = 0;

const inHost = (cmd: string, ...args: string[]) => execa('ip', ['netns', 'exec', hostNs, cmd, ...args], { reject: false, all: true });
/** A refusal must come without hanging; the setup's own `up` may wait for the host lock. */
const netlab = (args: string[], timeout = 30_000) =>
  execa('nsenter', [`--net=/run/netns/${hostNs}`, process.execPath, CLI, ...args], { cwd: dir, reject: false, all: true, env: { NETLAB_LOG_LEVEL: 'warn' }, timeout });

async function snapshot(lab: string): Promise<string> {
  const parts = await Promise.all([
    // Carrier state settles on its own after a bridge comes up: not a change anyone made.
    inHost('ip', 'link', 'show').then((r) => r.stdout.replace(/ state \S+/g, '')),
    inHost('ip', '-4', 'addr', 'show').then((r) => r.stdout.replace(/ state \S+/g, '')),
    inHost('ip', '-4', 'route', 'show', 'table', 'all').then((r) => r.stdout),
    inHost('ip', '-6', 'addr', 'show', 'scope', 'global').then((r) => r.stdout.replace(/ state \S+/g, '')),
    // Link-local addresses come by themselves once a link's duplicate address detection ends: not a change anyone made.
    inHost('ip', '-6', 'route', 'show', 'table', 'all').then((r) =>
      r.stdout
        .split('\n')
        .filter((l) => !l.includes('fe80:'))
        .join('\n'),
    ),
    inHost('iptables-save').then((r) => r.stdout.replace(/^#.*$/gm, '').replace(/\[\d+:\d+\]/g, '')),
    execa('ip', ['netns', 'list']).then((r) =>
      r.stdout
        .split('\n')
        .filter((l) => l.startsWith(`netlab-${lab}`))
        .join('\n'),
    ),
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
  /** Text the output must not hold (a secret of a file that is not a topology, a raw control character). */
  hidden?: string | RegExp;
  /** Changes the throwaway host before the run, and `undo` after it. */
  setup?: () => Promise<unknown>;
  undo?: () => Promise<unknown>;
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
  { what: 'an unknown top-level key', file: raw((l) => `name: ${l}\ncontaners:\n  web: {}\n`), where: 'lab.yaml:2: contaners', why: 'unknown key "contaners": did you mean "containers"?' },
  { what: 'an unknown container key', file: body('  web: { publsh: ["80"] }\n'), where: 'lab.yaml:5: containers.web.publsh', why: 'unknown key "publsh": did you mean "publish"?' },
  { what: "compose's word for a key", file: body('  web: { ports: ["80"] }\n'), where: 'lab.yaml:5: containers.web.ports', why: 'unknown key "ports": did you mean "publish"?' },
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
  {
    what: "a bridge name in netlab's veth namespace (nlv...)",
    file: raw((l) => `name: ${l}\nnetworks:\n  n: { bridge: nlv12345678 }\ncontainers: { a: {} }\n`),
    where: 'lab.yaml:3: networks.n.bridge',
    why: 'veth',
  },
  {
    what: 'two networks on one bridge',
    file: raw((l) => `name: ${l}\nnetworks:\n  n: { bridge: tbr0 }\n  m: { bridge: tbr0 }\ncontainers: { a: { networks: [n] } }\n`),
    where: 'lab.yaml:4: networks.m.bridge',
    why: 'already used by network "n"',
  },
  {
    what: "a bridge name that collides with another network's generated name",
    file: raw((l) => `name: ${l}\nnetworks:\n  n: { bridge: ${defaultBridgeName(l, 'm')} }\n  m: {}\ncontainers: { a: { networks: [n] } }\n`),
    where: 'networks.m',
    why: 'already used by network "n"',
  },
  {
    what: "a bridge name that is one of the host's interfaces",
    file: raw((l) => `name: ${l}\nnetworks:\n  n: { bridge: thost0, subnet: 10.104.41.0/24 }\ncontainers: { a: {} }\n`),
    where: 'link thost0 (no netlab mark)',
  },
  // Duplicates
  { what: 'a network listed twice', file: body('  web: { networks: [n, n] }\n'), where: 'lab.yaml:5: containers.web.networks[1]', why: 'listed twice' },
  { what: 'one static address for two containers', file: body('  a: { ip: 10.104.40.9 }\n  b: { ip: 10.104.40.9 }\n'), where: 'lab.yaml:6: containers.b.ip', why: 'already given to container "a"' },
  {
    what: 'one host port published twice',
    file: body('  a: { publish: ["20550:80"] }\n  b: { publish: ["20550:81"] }\n'),
    where: 'lab.yaml:6: containers.b.publish[0]',
    why: 'already published by a (lab.yaml:5)',
  },
  // Subnets and addresses
  {
    what: 'a subnet that overlaps a host route',
    file: raw((l) => `name: ${l}\nnetworks:\n  n: { subnet: 10.104.200.0/25 }\ncontainers: { a: {} }\n`),
    where: 'lab.yaml:3: networks.n.subnet',
    why: 'thost0',
  },
  {
    what: 'a subnet that overlaps another lab',
    file: raw((l) => `name: ${l}\nnetworks:\n  n: { subnet: 10.104.201.128/25 }\ncontainers: { a: {} }\n`),
    where: 'lab.yaml:3: networks.n.subnet',
    why: `lab ${other}`,
  },
  { what: 'a /33 subnet', file: raw((l) => `name: ${l}\nnetworks:\n  n: { subnet: 10.104.40.0/33 }\ncontainers: { a: {} }\n`), where: 'lab.yaml:3: networks.n.subnet' },
  { what: 'a subnet with host bits set', file: raw((l) => `name: ${l}\nnetworks:\n  n: { subnet: 10.104.40.1/24 }\ncontainers: { a: {} }\n`), where: 'networks.n.subnet', why: 'host bits zero' },
  { what: 'a /31 subnet', file: raw((l) => `name: ${l}\nnetworks:\n  n: { subnet: 10.104.40.0/31 }\ncontainers: { a: {} }\n`), where: 'networks.n.subnet', why: 'between /8 and /30' },
  { what: 'a static address outside the subnet', file: body('  a: { ip: 10.104.99.5 }\n'), where: 'lab.yaml:5: containers.a.ip', why: 'not a usable address' },
  { what: 'a static address equal to the gateway', file: body('  a: { ip: 10.104.40.1 }\n'), where: 'containers.a.ip', why: 'is the gateway' },
  { what: 'the broadcast address as a static address', file: body('  a: { ip: 10.104.40.255 }\n'), where: 'containers.a.ip', why: 'not a usable address' },
  { what: 'an IPv6 static address', file: body('  a: { ip: "fe80::1" }\n'), where: 'containers.a.ip', why: 'not an IPv4 address' },
  { what: 'a static address on a network the container is not on', file: body('  a: { ip: { m: 10.104.40.5 } }\n'), where: 'containers.a.ip.m', why: 'not on network "m"' },
  { what: 'a gateway outside the subnet', file: raw((l) => `name: ${l}\nnetworks:\n  n: { subnet: 10.104.40.0/24, gateway: 10.104.41.1 }\ncontainers: { a: {} }\n`), where: 'networks.n.gateway' },
  {
    what: 'more containers than the subnet has addresses',
    file: raw((l) => `name: ${l}\nnetworks:\n  n: { subnet: 10.104.40.0/30 }\ncontainers: { a: {}, b: {} }\n`),
    where: 'lab.yaml:3: networks.n.subnet',
    why: 'do not fit',
  },
  // Ports
  { what: 'a host port out of range', file: body('  a: { publish: ["70000:80"] }\n'), where: 'lab.yaml:5: containers.a.publish[0]', why: 'out of range' },
  { what: 'a port that is not a number', file: body('  a: { publish: ["abc"] }\n'), where: 'containers.a.publish[0]', why: 'not a port' },
  { what: 'an unknown protocol', file: body('  a: { publish: ["20551:80/icmp"] }\n'), where: 'containers.a.publish[0]', why: 'protocol "icmp"' },
  { what: 'ranges of different lengths', file: body('  a: { publish: ["20552-20554:80-81"] }\n'), where: 'containers.a.publish[0]', why: 'invalid ranges' },
  { what: 'a range that ends before it starts', file: body('  a: { publish: ["20560-20555:80"] }\n'), where: 'containers.a.publish[0]', why: 'ends before it starts' },
  { what: 'port 0 exposed', file: body('  a: { expose: [0] }\n'), where: 'containers.a.expose[0]', why: 'out of range' },
  { what: 'a negative port', file: body('  a: { expose: [-1] }\n'), where: 'containers.a.expose[0]' },
  { what: 'a host address that is not IPv4', file: body('  a: { publish: ["1.2.3:20556:80"] }\n'), where: 'containers.a.publish[0]', why: 'not an IPv4 address' },
  { what: 'a link-local IPv6 host address', file: body('  a: { publish: ["[fe80::1]:21190:80"] }\n'), where: 'containers.a.publish[0]', why: 'link-local' },
  { what: 'an IPv6 host address that is not one', file: body('  a: { publish: ["[fd32::g]:21191:80"] }\n'), where: 'containers.a.publish[0]', why: 'not an IPv6 address' },
  {
    what: 'one IPv6 host port on [::] and on an IPv6 address',
    file: body('  a: { publish: ["[::]:21192:80"] }\n  b: { publish: ["[fd32::1]:21192:80"] }\n'),
    where: 'containers.b.publish[0]',
    why: 'already published by a',
  },
  { what: 'a host port another lab publishes', file: body(`  a: { publish: ["${OTHER_PORT}:80"] }\n`), where: 'lab.yaml:5: containers.a.publish[0]', why: 'already in use' },
  // Links
  { what: 'a link to itself', file: body('  a: { links: [a] }\n'), where: 'lab.yaml:5: containers.a.links[0]', why: 'itself' },
  { what: 'a cycle of links', file: body('  a: { links: [b] }\n  b: { links: [c] }\n  c: { links: [a] }\n'), where: 'containers.a.links', why: 'cycle: a -> b -> c -> a' },
  { what: 'a link to an unknown container', file: body('  a: { links: [nobody] }\n'), where: 'containers.a.links[0]', why: '"nobody", which is not a container' },
  { what: 'a link alias with $( )', file: body('  a: {}\n  b: { links: ["a:$(id)"] }\n'), where: 'containers.b.links[0]', why: 'not a valid name' },
  { what: 'a link with too many colons', file: body('  a: {}\n  b: { links: ["a:b:c"] }\n'), where: 'containers.b.links[0]', why: 'bad format' },
  // Other fields
  { what: 'an unknown network', file: body('  a: { networks: [nowhere] }\n'), where: 'containers.a.networks[0]', why: 'unknown network "nowhere"' },
  { what: 'a misspelt network', file: body('  a: { networks: [nn] }\n'), where: 'lab.yaml:5: containers.a.networks[0]', why: 'unknown network "nn": did you mean "n"?' },
  { what: 'a misspelt link target', file: body('  web: {}\n  b: { links: [wbe] }\n'), where: 'lab.yaml:6: containers.b.links[0]', why: 'did you mean "web"?' },
  { what: 'no networks with several to choose from', file: raw((l) => `name: ${l}\nnetworks: { n: {}, m: {} }\ncontainers:\n  a: {}\n`), where: 'lab.yaml:4: containers.a', why: 'more than one' },
  { what: 'an env name with a space', file: body('  a: { env: { "A B": x } }\n'), where: 'containers.a.env', why: 'not a variable name' },
  { what: 'a host name with ;', file: body('  a: { hostname: "h;reboot" }\n'), where: 'containers.a.hostname', why: 'not a valid host name' },
  { what: 'an MTU of 100', file: raw((l) => `name: ${l}\nnetworks:\n  n: { mtu: 100 }\ncontainers: { a: {} }\n`), where: 'networks.n.mtu' },
  { what: 'an empty command list', file: body('  a: { command: [] }\n'), where: 'containers.a.command' },
  // Size and shape attacks
  {
    what: '10,000 containers',
    file: (l) => `name: ${l}\ncontainers:\n${Array.from({ length: 10_000 }, (_, i) => `  c${i}: {}\n`).join('')}`,
    where: 'lab.yaml:2: containers',
    why: "10000 containers exceed netlab's limit of 1000",
  },
  { what: '100 networks', file: (l) => `name: ${l}\nnetworks:\n${Array.from({ length: 100 }, (_, i) => `  n${i}: {}\n`).join('')}containers: {}\n`, where: 'networks', why: 'limit of 64' },
  {
    what: 'an alias bomb (billion laughs)',
    file: (l) => `name: ${l}\nx0: &a0 [x, x, x, x, x, x, x, x, x]\n${Array.from({ length: 8 }, (_, i) => `x${i + 1}: &a${i + 1} [${Array(9).fill(`*a${i}`).join(', ')}]\n`).join('')}`,
    where: 'YAML',
    why: 'resource exhaustion',
  },
  { what: 'flow nesting 100,000 deep', file: (l) => `name: ${l}\ncontainers: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`, where: 'lab.yaml:2:', why: 'nested deeper than 32' },
  {
    what: 'block nesting 1,000 deep',
    file: (l) => `name: ${l}\ncontainers:\n${Array.from({ length: 1000 }, (_, i) => `${' '.repeat(2 * i + 2)}a${i}:`).join('\n')}\n`,
    where: 'lab.yaml:',
    why: 'nested deeper than 32',
  },
  { what: 'a 2 MiB file', file: (l) => `name: ${l}\ncontainers: {}\n${'# padding\n'.repeat(210_000)}`, where: 'lab.yaml:', why: 'larger than 1048576 bytes' },
  // Multi-host keys
  {
    what: 'a container on an unknown host',
    file: raw((l) => `name: ${l}\nhosts:\n  vm1: { underlay: 10.104.41.11 }\ncontainers:\n  a: { host: vm9 }\n`),
    where: 'lab.yaml:5: containers.a.host',
    why: 'unknown host "vm9"',
  },
  {
    what: 'a VNI of 0',
    file: raw((l) => `name: ${l}\nhosts:\n  vm1: { underlay: 10.104.41.11 }\nnetworks:\n  n: { subnet: 10.104.42.0/24, vxlan: { vni: 0 } }\ncontainers: { a: {} }\n`),
    where: 'lab.yaml:5: networks.n.vxlan.vni',
    why: 'between 1 and 16777215',
  },
  {
    what: 'a VNI of 2^24',
    file: raw((l) => `name: ${l}\nhosts:\n  vm1: { underlay: 10.104.41.11 }\nnetworks:\n  n: { subnet: 10.104.42.0/24, vxlan: { vni: 16777216 } }\ncontainers: { a: {} }\n`),
    where: 'lab.yaml:5: networks.n.vxlan.vni',
    why: 'between 1 and 16777215',
  },
  {
    what: 'an underlay that is not an IPv4 address',
    file: raw((l) => `name: ${l}\nhosts:\n  vm1: { underlay: "vm1;reboot" }\ncontainers: { a: {} }\n`),
    where: 'lab.yaml:3: hosts.vm1.underlay',
    why: 'not an IPv4 address',
  },
  {
    what: 'two hosts with one underlay address',
    file: raw((l) => `name: ${l}\nhosts:\n  vm1: { underlay: 10.104.41.11 }\n  vm2: { underlay: 10.104.41.11 }\ncontainers: { a: {} }\n`),
    where: 'lab.yaml:4: hosts.vm2.underlay',
    why: 'already the underlay of host "vm1"',
  },
  {
    what: 'an overlay without a subnet',
    file: raw((l) => `name: ${l}\nhosts:\n  vm1: { underlay: 10.104.41.11 }\nnetworks:\n  n: { vxlan: { vni: 5 } }\ncontainers: { a: {} }\n`),
    where: 'networks.n.vxlan',
    why: 'needs a "subnet"',
  },
  {
    what: 'an overlay in a lab without hosts',
    file: raw((l) => `name: ${l}\nnetworks:\n  n: { subnet: 10.104.40.0/24, vxlan: { vni: 5 } }\ncontainers: { a: {} }\n`),
    where: 'networks.n.vxlan',
    why: 'needs "hosts:"',
  },
  {
    what: 'a --host that is not in the file',
    args: () => ['up', '-f', 'lab.yaml', '--host', 'vm9'],
    file: raw((l) => `name: ${l}\nhosts:\n  vm1: { underlay: 10.104.41.11 }\ncontainers: { a: {} }\n`),
    where: '--host',
    why: 'unknown host "vm9"',
  },
  // Another file for a running lab, and an output path that cannot be written
  {
    what: 'up from another file that names a running lab (a copy of its file elsewhere)',
    file: raw(() => `name: ${other}\nnetworks:\n  n: { subnet: 10.104.201.0/24 }\ncontainers:\n  web: { publish: ["${OTHER_PORT}:80"] }\n`),
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
  {
    what: 'graph -o into a folder that does not exist',
    args: () => ['graph', '-f', 'other.yaml', '--format', 'dot', '-o', '/nonexistent-netlab/lab.dot'],
    where: '-o/--output: cannot write /nonexistent-netlab/lab.dot',
    why: 'no such file or directory',
  },
  {
    what: 'graph -o into a .png (netlab draws no PNG)',
    args: () => ['graph', '-f', 'other.yaml', '-o', join(dir, 'lab.png')],
    where: '-o/--output: netlab draws SVG, DOT, Mermaid or JSON, not .png',
    why: 'rsvg-convert',
  },
  {
    what: 'graph --format svg into a .dot file',
    args: () => ['graph', '-f', 'other.yaml', '--format', 'svg', '-o', join(dir, 'lab.dot')],
    where: '--format: svg into',
    why: "the file's extension says dot",
  },
  { what: 'graph -o onto a folder', args: () => ['graph', '-f', 'other.yaml', '--format', 'dot', '-o', '/tmp'], where: '-o/--output: cannot write /tmp', why: 'illegal operation on a directory' },
  {
    what: 'a multi-host lab on a machine with none of its underlay addresses',
    file: raw((l) => `name: ${l}\nhosts:\n  vm1: { underlay: 10.104.41.11 }\ncontainers: { a: {} }\n`),
    where: 'hosts',
    why: "none of the hosts' underlay addresses",
  },
  ...fileCases(),
  ...limitCases(),
  ...addressCases(),
  ...nameCases(),
  ...ipv6Cases(),
];

let socketServer: Server | undefined;

beforeAll(async () => {
  // What -f must refuse without reading: a FIFO, a folder, a socket, a block device node, a link to /dev/zero, a sparse file.
  await execa('mkfifo', [join(dir, 'fifo')]);
  mkdirSync(join(dir, 'adir'));
  await execa('mknod', [join(dir, 'blk'), 'b', '7', '250']);
  symlinkSync('/dev/zero', join(dir, 'zero-link'));
  writeFileSync(join(dir, 'sparse.yaml'), 'containers:\n  a: {}\n');
  truncateSync(join(dir, 'sparse.yaml'), 300 << 20);
  socketServer = createServer();
  await new Promise<void>((done) => socketServer!.listen(join(dir, 'sock'), done));
  await execa('ip', ['netns', 'add', hostNs]);
  await inHost('ip', 'link', 'set', 'lo', 'up');
  // A route of the host, and another lab, for the cases that collide with them.
  await inHost('ip', 'link', 'add', 'thost0', 'type', 'bridge');
  await inHost('ip', 'addr', 'add', '10.104.200.1/24', 'dev', 'thost0');
  await inHost('ip', 'addr', 'add', 'fd31:104:200::1/64', 'dev', 'thost0', 'nodad');
  await inHost('ip', 'link', 'set', 'thost0', 'up');
  writeFileSync(
    join(dir, 'other.yaml'),
    `name: ${other}\nnetworks:\n  n: { subnet: 10.104.201.0/24, ipv6: true, subnet6: "fd31:104:201::/64" }\ncontainers:\n  web: { publish: ["${OTHER_PORT}:80"] }\n`,
  );
  const r = await netlab(['up', '-f', 'other.yaml'], 300_000);
  if (r.exitCode !== 0) throw new Error(r.all);
  const br = await inHost('ip', 'link', 'show', 'dev', 'thost0');
  if (br.exitCode !== 0) throw new Error(br.all);
});

afterAll(async () => {
  socketServer?.close();
  await netlab(['down', '--lab', other]);
  await execa('ip', ['netns', 'del', hostNs], { reject: false });
  removeTempDir(dir);
});

describe(`bad input: ${cases.length} cases, each refused with exit code 2, its place named, the kernel unchanged`, () => {
  it('has more than 120 cases', () => expect(cases.length).toBeGreaterThan(120));

  it.each(cases.map((c) => [c.what, c] as const))('%s', async (_what, c) => {
    const lab = `${base}${(counter++).toString(36)}`;
    const args = c.args ? c.args(lab) : ['up', '-f', 'lab.yaml'];
    if (c.file) writeFileSync(join(dir, 'lab.yaml'), c.file(lab));
    await c.setup?.();
    try {
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
      if (typeof c.hidden === 'string') expect(r.all).not.toContain(c.hidden);
      else if (c.hidden) expect(r.all).not.toMatch(c.hidden);
      expect(r.stderr).not.toContain('unexpected error');
      expect(r.stdout).toBe('');
      expect(await snapshot(lab)).toBe(before);
    } finally {
      await c.undo?.();
    }
  });
});

describe('the limits hold what the kernel takes', () => {
  it('a container whose environment is just under 1 MiB starts its command', async () => {
    const lab = `${base}env`;
    const env = Array.from({ length: 8 }, (_, i) => `V${i}: "${'x'.repeat(120_000)}"`).join(', ');
    writeFileSync(
      join(dir, 'env.yaml'),
      `name: ${lab}\nnetworks:\n  n: { subnet: 10.243.40.0/24 }\ncontainers:\n  a: { env: { ${env} }, command: "echo started $(printenv | wc -c); exec sleep 600" }\n`,
    );
    try {
      const r = await netlab(['up', '-f', 'env.yaml']);
      expect(r.exitCode, r.all).toBe(0);
      let log = '';
      for (let i = 0; i < 50 && !log.includes('started'); i++) {
        await new Promise((done) => setTimeout(done, 100));
        log = (await netlab(['logs', '--lab', lab, 'a'])).stdout;
      }
      expect(Number(/started (\d+)/.exec(log)?.[1])).toBeGreaterThan(960_000);
    } finally {
      await netlab(['down', '--lab', lab]);
    }
  });
});

/** -f of what is no topology file: special files (made in beforeAll), a huge one, empty ones, secrets. */
function fileCases(): Case[] {
  const f = (what: string, file: string, why: string): Case => ({ what: `-f of ${what}`, args: () => ['up', '-f', file], where: `${file}: ${why}` });
  const shadow = 'root:$6$saltSECRET$hashSECRET:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nbob:$6$x$bobSECRET:19000:0:99999:7:::\n';
  return [
    f('/dev/zero (no memory eaten)', '/dev/zero', 'is a character device, not a regular file'),
    f('/dev/null', '/dev/null', 'is a character device, not a regular file'),
    f('a FIFO (no hang)', 'fifo', 'is a FIFO (named pipe), not a regular file'),
    f('a directory', 'adir', 'is a directory, not a regular file'),
    f('a UNIX socket', 'sock', 'is a socket, not a regular file'),
    f('a block device node', 'blk', 'is a block device, not a regular file'),
    f('a symlink to /dev/zero', 'zero-link', 'is a character device, not a regular file'),
    f('a 300 MB sparse file (only 1 MiB + 1 byte read)', 'sparse.yaml', 'the file is larger than 1048576 bytes'),
    { what: 'an empty file', file: raw(() => ''), where: 'lab.yaml: containers: a lab needs at least one container' },
    { what: 'a file of comments only', file: raw(() => '# nothing here\n'), where: 'lab.yaml: containers: a lab needs at least one container' },
    { what: 'a lab name and nothing else', file: raw((l) => `name: ${l}\n`), where: 'containers: a lab needs at least one container' },
    { what: 'an empty containers map', file: raw((l) => `name: ${l}\ncontainers: {}\n`), where: 'lab.yaml:2: containers: a lab needs at least one container' },
    { what: 'an /etc/shadow (no line of it shown)', file: raw(() => shadow), where: 'lab.yaml:1: (top level): unknown key "root…"', hidden: 'SECRET' },
    { what: 'an /etc/passwd', file: raw(() => 'root:x:0:0:root SECRET:/root:/bin/bash\n'), where: 'lab.yaml:1:', hidden: 'SECRET' },
    { what: 'an INI file with a password', file: raw(() => '[client]\npassword = pwSECRET\nuser: admin\n'), where: 'lab.yaml:2: YAML syntax', hidden: 'SECRET' },
    { what: 'a JSON file with a token and a syntax error', file: raw(() => '{"token": "tokSECRET", "x": [1,2}\n'), where: 'lab.yaml:1: YAML syntax', hidden: 'SECRET' },
    { what: 'a private key', file: raw(() => '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktSECRET\n-----END OPENSSH PRIVATE KEY-----\n'), where: 'lab.yaml:1: (top level)', hidden: 'SECRET' },
    { what: 'a newline in a key (escaped)', file: body('  "we\\nb": {}\n'), where: 'lab.yaml:5: containers: the name "we\\nb"', hidden: /we\nb/ },
    { what: 'an escape sequence in a key (escaped)', file: body('  a: { "x\\e[2Jy": 1 }\n'), where: 'containers.a["x\\u001b[2Jy"]: unknown key', hidden: '\u001b' },
    {
      what: '20,000 keys in one map, one of them twice (no quadratic check)',
      file: raw((l) => `name: ${l}\nx:\n${Array.from({ length: 20_000 }, (_, i) => `  k${i}: 1\n`).join('')}  k7: 2\n`),
      where: 'lab.yaml:20003: YAML syntax',
      why: 'unique',
    },
    { what: 'networks: {}', file: raw((l) => `name: ${l}\nnetworks: {}\ncontainers:\n  a: {}\n`), where: 'lab.yaml:2: networks: names no network', hidden: 'more than one' },
  ];
}

/** What execve(2) or the firewall would refuse once the lab is half built. */
function limitCases(): Case[] {
  const fan = (n: number) => Array.from({ length: n }, (_, i) => `  p${i}: { links: [big] }\n`).join('');
  const bigEnv = Array.from({ length: 5 }, (_, i) => `V${i}: "${'x'.repeat(120_000)}"`).join(', ');
  const narrow = (range: string) => () => inHost('sysctl', '-qw', `net.ipv4.ip_local_port_range=${range}`);
  return [
    { what: 'a NUL byte in an env value', file: body('  a: { env: { X: "a\\0b" } }\n'), where: 'lab.yaml:5: containers.a.env.X', why: 'NUL byte' },
    { what: 'a NUL byte in a command string', file: body('  a: { command: "sleep 1\\0; reboot" }\n'), where: 'lab.yaml:5: containers.a.command', why: 'NUL byte' },
    { what: 'a NUL byte in a command argument', file: body('  a: { command: [sleep, "1\\0"] }\n'), where: 'lab.yaml:5: containers.a.command[1]', why: 'NUL byte' },
    { what: 'an env value past MAX_ARG_STRLEN', file: body(`  a: { env: { X: "${'v'.repeat(200_000)}" } }\n`), where: 'containers.a.env.X', why: 'longer than the kernel takes for one variable' },
    { what: 'a command string past MAX_ARG_STRLEN', file: body(`  a: { command: "${'v'.repeat(200_000)}" }\n`), where: 'containers.a.command', why: 'longer than the kernel takes for one argument' },
    {
      what: "a child's 600 kB env linked twice (1.2 MB of link variables)",
      file: body(`  child: { env: { ${bigEnv} } }\n  parent: { links: [child, "child:again"] }\n`),
      where: 'lab.yaml:6: containers.parent.links[0]',
      why: 'more than the 1048576 netlab allows',
    },
    {
      what: '3000 exposed ports linked three times by one container',
      file: body('  a: { expose: ["1-3000"] }\n  b: { links: [a, "a:x", "a:y"] }\n'),
      where: 'lab.yaml:6: containers.b.links[0]',
      why: 'the environment of "b" would take',
    },
    { what: 'expose 1-20000 and a link (E2BIG)', file: body('  a: { expose: ["1-20000"] }\n  b: { links: [a] }\n'), where: 'containers.b.links[0]', why: 'the environment of "b" would take' },
    {
      what: 'expose 1-65535 and a link (stack overflow)',
      file: body('  a: { expose: ["1-65535"] }\n  b: { links: [a] }\n'),
      where: 'containers.b.links[0]',
      why: 'the environment of "b" would take',
    },
    {
      what: '400 separate exposed ports linked by 50 containers',
      file: body(`  big: { expose: [${Array.from({ length: 400 }, (_, i) => 2 * i + 1).join(', ')}] }\n${fan(50)}`),
      where: 'lab.yaml:5: containers.big.expose',
      why: 'linked 50 times, make 40000 firewall rules',
    },
    { what: 'publish 1-30000', file: body('  a: { publish: ["1-30000"] }\n'), where: 'lab.yaml:5: containers.a.publish', why: '60000 firewall rules' },
    { what: 'publish 1-65535', file: body('  a: { publish: ["1-65535"] }\n'), where: 'lab.yaml:5: containers.a.publish', why: "more than netlab's limit of 20000" },
    { what: 'publishAll of 15000 exposed ports', file: body('  a: { expose: ["1-15000"], publishAll: true }\n'), where: 'lab.yaml:5: containers.a.publish', why: '15000 published ports' },
    {
      what: 'three entries on a host range of two ports',
      file: body('  a:\n    publish:\n      - "43000-43001:80"\n      - "43000-43001:81"\n      - "43000-43001:82"\n'),
      where: 'lab.yaml:9: containers.a.publish[2]',
      why: 'no free host port left for container port 82/tcp in its host range 43000-43001',
    },
    {
      what: 'more automatic host ports than ip_local_port_range has',
      file: body('  a: { publish: ["80", "81"] }\n  b: { publish: ["82"] }\n'),
      setup: narrow('43000 43001'),
      undo: narrow('32768 60999'),
      where: 'lab.yaml:6: containers.b.publish[0]',
      why: 'ip_local_port_range 43000-43001',
    },
  ];
}

/** Overlapping and special subnets, and special addresses. */
function addressCases(): Case[] {
  const nets = (a: string, b: string) => raw((l) => `name: ${l}\nnetworks:\n  n: { subnet: ${a} }\n  m: { subnet: ${b} }\ncontainers:\n  a: { networks: [n] }\n`);
  const subnet = (s: string, what: string): Case => ({
    what: `the ${what} subnet ${s}`,
    file: raw((l) => `name: ${l}\nnetworks:\n  n: { subnet: ${s} }\ncontainers: { a: {} }\n`),
    where: 'lab.yaml:3: networks.n.subnet',
    why: `is in the ${what} range`,
  });
  const underlay = (ip: string, what: string): Case => ({
    what: `a ${what} underlay`,
    file: raw((l) => `name: ${l}\nhosts:\n  vm1: { underlay: ${ip} }\ncontainers: { a: {} }\n`),
    where: 'lab.yaml:3: hosts.vm1.underlay',
    why: `is in the ${what} range`,
  });
  const publish = (ip: string, what: string): Case => ({
    what: `a port published on the ${what} address ${ip}`,
    file: body(`  a: { publish: ["${ip}:43010:80"] }\n`),
    where: 'lab.yaml:5: containers.a.publish[0]',
    why: `is in the ${what} range`,
  });
  return [
    { what: 'two networks on one subnet', file: nets('10.243.1.0/24', '10.243.1.0/24'), where: 'lab.yaml:4: networks.m.subnet', why: 'overlaps 10.243.1.0/24, the subnet of network "n" (lab.yaml:3)' },
    { what: "a subnet inside another network's", file: nets('10.243.1.0/24', '10.243.1.128/25'), where: 'lab.yaml:4: networks.m.subnet', why: 'the subnet of network "n" (lab.yaml:3)' },
    { what: "a subnet around another network's", file: nets('10.243.1.0/24', '10.243.0.0/16'), where: 'lab.yaml:4: networks.m.subnet', why: '10.243.0.0/16 overlaps 10.243.1.0/24' },
    subnet('127.0.0.0/8', 'loopback'),
    subnet('127.1.0.0/24', 'loopback'),
    subnet('224.0.0.0/24', 'multicast'),
    subnet('239.1.0.0/16', 'multicast'),
    subnet('0.0.0.0/8', '"this network"'),
    subnet('240.0.0.0/24', 'reserved'),
    subnet('255.255.255.0/30', 'reserved'),
    subnet('169.254.0.0/16', 'link-local'),
    subnet('169.254.169.0/24', 'link-local'),
    underlay('127.0.0.1', 'loopback'),
    underlay('239.1.1.1', 'multicast'),
    underlay('0.1.2.3', '"this network"'),
    publish('224.0.0.1', 'multicast'),
    publish('255.255.255.255', 'reserved'),
    publish('0.1.2.3', '"this network"'),
  ];
}

/** Names that would resolve to the wrong container. */
function nameCases(): Case[] {
  return [
    {
      what: "a hostname equal to another container's name",
      file: body('  db: {}\n  app: { hostname: db }\n'),
      where: 'lab.yaml:6: containers.app.hostname',
      why: '"db" is also the name of container "db" (lab.yaml:5)',
    },
    {
      what: 'a hostname before the container of that name',
      file: body('  app: { hostname: db }\n  db: {}\n'),
      where: 'lab.yaml:5: containers.app.hostname',
      why: 'the name of container "db" (lab.yaml:6)',
    },
    {
      what: "a hostname equal to another container's hostname",
      file: body('  a: { hostname: web.example }\n  b: { hostname: web.example }\n'),
      where: 'lab.yaml:6: containers.b.hostname',
      why: 'the host name of container "a" (lab.yaml:5)',
    },
    { what: 'a hostname that differs from a name only in case', file: body('  db: {}\n  app: { hostname: DB }\n'), where: 'lab.yaml:6: containers.app.hostname', why: 'the name of container "db"' },
    { what: 'two container names that differ only in case', file: body('  web: {}\n  Web: {}\n'), where: 'lab.yaml:6: containers.Web', why: 'the name of container "web" (lab.yaml:5)' },
  ];
}

/** IPv6 keys: each refused at its place, with the host's IPv6 route and the other lab's subnet6 as collisions. */
function ipv6Cases(): Case[] {
  const net = (n: string, ctr = '  a: {}\n') => raw((l) => `name: ${l}\nnetworks:\n  n: ${n}\ncontainers:\n${ctr}`);
  const subnet6 = (s: string, why: string | RegExp): Case => ({ what: `the subnet6 ${s}`, file: net(`{ ipv6: true, subnet6: "${s}" }`), where: 'lab.yaml:3: networks.n.subnet6', why });
  return [
    subnet6('10.104.50.0/24', 'is not an IPv6 subnet'),
    subnet6('fd31:104:50::1/64', 'with its host bits zero'),
    subnet6('fd31:104:50::/96', 'prefix /96 must be between /16 and /64'),
    subnet6('fe80::/64', 'is in the link-local range'),
    subnet6('ff05::/64', 'is in the multicast range'),
    subnet6('::/64', 'is in the reserved range'),
    subnet6('fd31:104:200::/56', /overlaps the route to fd31:104:200::\/64 dev thost0/),
    subnet6('fd31:104:201::/48', `overlaps lab ${other}`),
    { what: 'subnet6 without ipv6: true', file: net('{ subnet6: "fd31:104:50::/64" }'), where: 'lab.yaml:3: networks.n.subnet6', why: '"subnet6" needs "ipv6: true"' },
    {
      what: 'gateway6 outside subnet6',
      file: net('{ ipv6: true, subnet6: "fd31:104:50::/64", gateway6: "fd31:104:51::1" }'),
      where: 'lab.yaml:3: networks.n.gateway6',
      why: 'is not a usable address of fd31:104:50::/64',
    },
    { what: 'gateway6 without subnet6', file: net('{ ipv6: true, gateway6: "fd31:104:51::1" }'), where: 'lab.yaml:3: networks.n.gateway6', why: 'needs the network\'s "subnet6"' },
    { what: 'ipv4: false without ipv6', file: net('{ ipv4: false }'), where: 'lab.yaml:3: networks.n.ipv4', why: 'a network needs an address family' },
    { what: 'an IPv4 subnet on an IPv6-only network', file: net('{ ipv4: false, ipv6: true, subnet: 10.104.50.0/24 }'), where: 'lab.yaml:3: networks.n.subnet', why: 'the network has "ipv4: false"' },
    { what: 'an IPv4 address on an IPv6-only network', file: net('{ ipv4: false, ipv6: true }', '  a: { ip: 10.104.50.5 }\n'), where: 'lab.yaml:5: containers.a.ip', why: 'has "ipv4: false"' },
    {
      what: 'ip6 outside subnet6',
      file: net('{ ipv6: true, subnet6: "fd31:104:50::/64" }', '  a: { ip6: "fd31:104:51::5" }\n'),
      where: 'lab.yaml:5: containers.a.ip6',
      why: "is not a usable address of n's subnet6",
    },
    { what: 'ip6 on a network without IPv6', file: net('{ subnet: 10.104.50.0/24 }', '  a: { ip6: "fd31:104:50::5" }\n'), where: 'lab.yaml:5: containers.a.ip6', why: 'network "n" has no IPv6' },
    {
      what: 'ip6 that is not an address',
      file: net('{ ipv6: true, subnet6: "fd31:104:50::/64" }', '  a: { ip6: "fd31::104::5" }\n'),
      where: 'lab.yaml:5: containers.a.ip6',
      why: 'is not an IPv6 address',
    },
    { what: 'ip6 on the gateway', file: net('{ ipv6: true, subnet6: "fd31:104:50::/64" }', '  a: { ip6: "fd31:104:50::1" }\n'), where: 'lab.yaml:5: containers.a.ip6', why: 'is the gateway of n' },
    {
      what: 'one ip6 for two containers',
      file: net('{ ipv6: true, subnet6: "fd31:104:50::/64" }', '  a: { ip6: "fd31:104:50::5" }\n  b: { ip6: "fd31:104:50:0::5" }\n'),
      where: 'lab.yaml:6: containers.b.ip6',
      why: 'is already given to container "a"',
    },
    {
      what: 'two networks on overlapping subnet6s',
      file: raw((l) => `name: ${l}\nnetworks:\n  n: { ipv6: true, subnet6: "fd31:104:50::/48" }\n  m: { ipv6: true, subnet6: "fd31:104:50:7::/64" }\ncontainers:\n  a: { networks: [n, m] }\n`),
      where: 'lab.yaml:4: networks.m.subnet6',
      why: 'the subnet6 of network "n" (lab.yaml:3)',
    },
    {
      what: 'an IPv6 overlay without subnet6',
      file: raw((l) => `name: ${l}\nhosts:\n  vm1: { underlay: 10.104.41.11 }\nnetworks:\n  o: { subnet: 10.104.42.0/24, vxlan: { vni: 42 }, ipv6: true }\ncontainers: { a: {} }\n`),
      where: 'lab.yaml:5: networks.o.ipv6',
      why: 'needs a "subnet6"',
    },
  ];
}
