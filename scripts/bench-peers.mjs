// The bench's peer rows (issue 6): the same lab shape as netlab's bench lab (N containers, one
// bridge with a gateway, a default route in each, masquerade, one published TCP port each) made
// the way container runtimes make it: one exec per container of
//  - the CNI plugins, chained as a conflist's [bridge (host-local IPAM, ipMasq), portmap]: ADD of
//    bridge, then ADD of portmap with bridge's result as prevResult; DEL in reverse order with the
//    ADD result as prevResult (what libcni does from its cache). Before them the loopback plugin
//    brings lo up, as containerd and CRI-O exec it per pod (netavark brings lo up itself): 3 execs. Debian: containernetworking-plugins
//    (the plugins in /usr/lib/cni; it has no cnitool, so this drives them as a runtime does:
//    CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_PATH in the environment, the
//    network config on stdin).
//  - netavark (`netavark setup|teardown /run/netns/NS`, the network options JSON on stdin, as
//    podman calls it; podman picks the address, so each container has a static_ips entry).
//    Debian: netavark (in /usr/lib/podman). Its firewall driver is iptables (1.4 has no nftables
//    driver; iptables here is iptables-nft).
// Timed, for both: setup = one `ip -batch` adding the N namespaces + the N (CNI: 3N) plugin execs;
// teardown = the N (3N) DEL/teardown execs + one `ip -batch` deleting the namespaces (and the CNI
// bridge, which the bridge plugin never deletes; netavark deletes its own with the last container)
// + the wait until the bridge and its ports are gone (the floor's teardown includes that wait too).
// Not timed: writing configs, the checks after setup, and the cleanup after teardown of what a
// runtime leaves behind on purpose (the top-level CNI-HOSTPORT-* / NETAVARK-HOSTPORT-* and
// NETAVARK_FORWARD chains and their jump rules), which is removed only when the run created it.
// Where their time goes (strace, Debian's plugins 1.1.1 and netavark 1.4.0): one container's CNI
// ADD runs iptables 28 times (bridge's ipMasq 9, portmap 19), its DEL 24 (6 + 18, 8 of them
// ip6tables); netavark setup 27 (1 ip6tables), teardown 10. Each iptables-nft process reads the
// whole table, so they slow down as other rules (other labs') grow.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const cniDirs = [...(process.env.CNI_PATH ?? '').split(':').filter(Boolean), '/usr/lib/cni', '/opt/cni/bin', '/usr/libexec/cni'];
const netavarkPaths = ['/usr/libexec/podman/netavark', '/usr/lib/podman/netavark', '/usr/local/libexec/podman/netavark', '/usr/local/lib/podman/netavark'];

/** The CNI plugin folder holding bridge, portmap and host-local, or undefined. */
export function findCni() {
  return cniDirs.find((d) => ['loopback', 'bridge', 'portmap', 'host-local'].every((p) => existsSync(join(d, p))));
}

/** The netavark binary (PATH first, then podman's helper folders), or undefined. */
export function findNetavark() {
  const r = spawnSync('sh', ['-c', 'command -v netavark'], { encoding: 'utf8' });
  if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  return netavarkPaths.find((p) => existsSync(p));
}

// The plugins' PATH: the system's, as a runtime started by systemd has (not a login shell's, whose
// extra folders each iptables lookup would try first).
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function run(cmd, args, { input, env } = {}) {
  const r = spawnSync(cmd, args, { input, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${(r.stderr || r.stdout).trim().slice(0, 2000)}`);
  return r.stdout;
}
const tryRun = (cmd, args, opts) => {
  try {
    return run(cmd, args, opts);
  } catch {
    return undefined;
  }
};

const ipOf = (net, third0, i) => `${net}.${third0 + ((i + 1) >> 8)}.${(i + 1) & 255}`; // container i: host number i+1
const nsAll = () =>
  run('ip', ['netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter(Boolean);
const nsList = (prefix) => nsAll().filter((n) => n.startsWith(`${prefix}-`) && /^\d+$/.test(n.slice(prefix.length + 1)));
const linkExists = (name) => spawnSync('ip', ['link', 'show', 'dev', name], { stdio: 'ignore' }).status === 0;
const bridgePorts = (br) => (linkExists(br) ? run('ip', ['-o', 'link', 'show', 'master', br]).split('\n').filter(Boolean).length : 0);

/** Chains of nat and filter, as "table:chain". */
function chains() {
  const out = new Set();
  for (const t of ['nat', 'filter']) for (const l of run('iptables', ['-t', t, '-S']).split('\n')) if (l.startsWith('-N ')) out.add(`${t}:${l.slice(3)}`);
  return out;
}

/**
 * Removes what a run left in iptables: chains matching `prefix` that did not exist before the run
 * (`before`), every rule jumping to them, and any rule elsewhere that names `mark` (the run's
 * network name, in the plugins' rule comments). Touches nothing else.
 */
function iptablesClean(prefix, mark, before) {
  for (const t of ['nat', 'filter']) {
    const lines = run('iptables', ['-t', t, '-S']).split('\n');
    const mine = new Set(
      lines
        .filter((l) => l.startsWith('-N '))
        .map((l) => l.slice(3))
        .filter((c) => prefix.test(c) && !before.has(`${t}:${c}`)),
    );
    const del = [];
    for (const l of lines) {
      const m = /^-A (\S+) .*?(?:-j (\S+))?$/.exec(l);
      if (!m || mine.has(m[1])) continue;
      if ((m[2] && mine.has(m[2])) || l.includes(mark)) del.push(l.replace(/^-A /, '-D '));
    }
    if (!del.length && !mine.size) continue;
    const body = [`*${t}`, ...del, ...[...mine].map((c) => `-F ${c}`), ...[...mine].map((c) => `-X ${c}`), 'COMMIT', ''].join('\n');
    run('iptables-restore', ['--noflush'], { input: body });
  }
}

/** DNAT rules (iptables -S lines) sending a port of [port0+1, port0+n] to `dest`:80 in the subnet prefix `destPrefix`. */
function dnatRules(port0, n, destPrefix) {
  return run('iptables', ['-t', 'nat', '-S'])
    .split('\n')
    .filter((l) => {
      const m = /--dport (\d+) .*-j DNAT --to-destination (\S+):80$/.exec(l);
      return m && Number(m[1]) > port0 && Number(m[1]) <= port0 + n && m[2].startsWith(destPrefix);
    }).length;
}

/** The checks after setup (not timed): sampled namespaces have lo up, eth0 with their address and a default route via the gateway, the bridge has N ports, N DNAT rules exist, ping over the bridge works. */
function verify({ n, prefix, br, addrOf, gw, port0, destPrefix }) {
  for (const i of [...new Set([1, Math.ceil(n / 2), n])]) {
    const ns = `${prefix}-${i}`;
    if (!JSON.parse(run('ip', ['-n', ns, '-j', 'link', 'show', 'dev', 'lo']))[0]?.flags.includes('UP')) throw new Error(`${ns}: lo is not up`);
    const addrs = JSON.parse(run('ip', ['-n', ns, '-j', 'addr', 'show', 'dev', 'eth0']));
    const want = addrOf(i);
    if (!addrs[0]?.flags.includes('UP') || !addrs[0].addr_info.some((a) => a.family === 'inet' && `${a.local}/${a.prefixlen}` === want))
      throw new Error(`${ns}: eth0 is not up with ${want}: ${JSON.stringify(addrs)}`);
    const routes = JSON.parse(run('ip', ['-n', ns, '-j', 'route', 'show', 'default']));
    if (routes.length !== 1 || routes[0].gateway !== gw || routes[0].dev !== 'eth0') throw new Error(`${ns}: no default route via ${gw}: ${JSON.stringify(routes)}`);
  }
  const ports = bridgePorts(br);
  if (ports !== n) throw new Error(`bridge ${br} has ${ports} ports, expected ${n}`);
  const rules = dnatRules(port0, n, destPrefix);
  if (rules !== n) throw new Error(`${rules} DNAT rules to ${destPrefix}*:80 for ports ${port0 + 1}-${port0 + n}, expected ${n}`);
  const target = n > 1 ? addrOf(n).split('/')[0] : gw;
  run('ip', ['netns', 'exec', `${prefix}-1`, 'ping', '-c', '1', '-w', '10', '-q', target]);
}

function waitGone(br, what) {
  const deadline = performance.now() + 300_000;
  while (linkExists(br) || bridgePorts(br) > 0) {
    if (performance.now() > deadline) throw new Error(`${what}: ${br} still present 300 s after teardown`);
    spawnSync('sleep', ['0.005']);
  }
}

const ipBatch = (lines) => run('ip', ['-force', '-batch', '-'], { input: `${lines.join('\n')}\n` });

/**
 * One peer run: setup (timed), verify, teardown (timed), and in `finally` the removal of anything
 * of the run's still present. `p` describes the peer: prefix (netns names PREFIX-i), br, gw, plen,
 * subnet, addrOf(i), chain prefix, mark, add(i) and del(i) (the per-container execs), and
 * teardownExtra (names for the ip batch after the DELs).
 */
function peerRun(n, p) {
  if (
    run('ip', ['-4', 'route', 'show', 'root', p.subnet]).trim() ||
    run('ip', ['-4', 'route', 'show', 'match', p.subnet])
      .split('\n')
      .some((l) => l && !l.startsWith('default'))
  )
    throw new Error(`${p.subnet} overlaps an existing route`);
  const forward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
  const before = chains();
  const added = new Set();
  let setup, teardown;
  try {
    const t0 = performance.now();
    ipBatch(Array.from({ length: n }, (_, k) => `netns add ${p.prefix}-${k + 1}`));
    for (let i = 1; i <= n; i++) {
      added.add(i);
      p.add(i);
    }
    setup = performance.now() - t0;
    verify({ n, prefix: p.prefix, br: p.br, addrOf: p.addrOf, gw: p.gw, port0: p.port0, destPrefix: p.destPrefix });
    const t1 = performance.now();
    for (let i = 1; i <= n; i++) {
      p.del(i);
      added.delete(i);
    }
    ipBatch([...(p.deleteBridge ? [`link del ${p.br}`] : []), ...Array.from({ length: n }, (_, k) => `netns del ${p.prefix}-${k + 1}`)]);
    waitGone(p.br, p.what);
    teardown = performance.now() - t1;
    if (nsList(p.prefix).length) throw new Error(`${p.what}: namespaces still listed after teardown`);
  } finally {
    // Whatever is still there: DEL what was added (ignoring errors), then namespaces, bridge, chains.
    for (const i of added) {
      try {
        p.del(i);
      } catch {
        /* best effort */
      }
    }
    const left = nsList(p.prefix);
    if (left.length) tryRun('ip', ['-force', '-batch', '-'], { input: left.map((ns) => `netns del ${ns}\n`).join('') });
    if (linkExists(p.br)) tryRun('ip', ['link', 'del', p.br]);
    iptablesClean(p.chainPrefix, p.mark, before);
    // Both plugins set ip_forward=1 and never put it back. The run does, unless a netlab lab came
    // up meanwhile (netns netlab-*): that lab needs it, and its own `down` restores it.
    if (readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() !== forward && !nsAll().some((ns) => ns.startsWith('netlab-'))) writeFileSync('/proc/sys/net/ipv4/ip_forward', forward);
    p.cleanup?.();
    const leftChains = [...chains()].filter((c) => !before.has(c) && p.chainPrefix.test(c.split(':')[1]));
    const leftRules = ['nat', 'filter'].flatMap((t) =>
      run('iptables', ['-t', t, '-S'])
        .split('\n')
        .filter((l) => l.includes(p.mark)),
    );
    if (nsList(p.prefix).length || linkExists(p.br) || leftChains.length || leftRules.length)
      process.stderr.write(`bench: WARNING: ${p.what} left ${nsList(p.prefix).join(' ')} ${linkExists(p.br) ? p.br : ''} ${leftChains.join(' ')} ${leftRules.join(' | ')}\n`);
  }
  return { setup, teardown };
}

/**
 * CNI bridge+portmap, N containers. `o`: { dir (CNI plugin folder), name (≤ 11 chars: network name,
 * bridge, netns prefix), net ("A.B"), third (third octet of the /22), port0, work (a private folder) }.
 */
export function cniRun(n, o) {
  const subnet = `${o.net}.${o.third}.0/22`;
  const gw = `${o.net}.${o.third}.1`;
  const dataDir = join(o.work, `cni-${o.name}`);
  mkdirSync(dataDir, { recursive: true });
  // A conflist as a runtime would hold it; host-local keeps its leases in our own folder, not /var/lib/cni.
  const conflist = {
    cniVersion: '1.0.0',
    name: o.name,
    plugins: [
      { type: 'bridge', bridge: o.name, isGateway: true, ipMasq: true, hairpinMode: true, ipam: { type: 'host-local', ranges: [[{ subnet, gateway: gw }]], routes: [{ dst: '0.0.0.0/0' }], dataDir } },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  };
  const loopback = { type: 'loopback' };
  const results = new Map();
  const exec = (plugin, command, i, prevResult, ifname = 'eth0') => {
    const conf = { cniVersion: conflist.cniVersion, name: plugin.type === 'loopback' ? 'cni-loopback' : conflist.name, ...plugin };
    if (plugin.capabilities?.portMappings) conf.runtimeConfig = { portMappings: [{ hostPort: o.port0 + i, containerPort: 80, protocol: 'tcp' }] };
    if (prevResult) conf.prevResult = prevResult;
    const env = { PATH, CNI_COMMAND: command, CNI_CONTAINERID: `${o.name}-${i}`, CNI_NETNS: `/run/netns/${o.name}-${i}`, CNI_IFNAME: ifname, CNI_PATH: o.dir };
    const out = run(join(o.dir, plugin.type), [], { input: JSON.stringify(conf), env });
    return out.trim() ? JSON.parse(out) : undefined;
  };
  return peerRun(n, {
    // host-local hands out addresses in order from .2, and the bench adds containers in order.
    ...peerShape('CNI bridge+portmap', o, gw, subnet),
    chainPrefix: /^CNI-/,
    mark: o.name,
    deleteBridge: true,
    add(i) {
      exec(loopback, 'ADD', i, undefined, 'lo');
      let r = exec(conflist.plugins[0], 'ADD', i);
      r = exec(conflist.plugins[1], 'ADD', i, r);
      results.set(i, r);
    },
    del(i) {
      const r = results.get(i);
      exec(conflist.plugins[1], 'DEL', i, r);
      exec(conflist.plugins[0], 'DEL', i, r);
      exec(loopback, 'DEL', i, undefined, 'lo');
      results.delete(i);
    },
    cleanup: () => rmSync(dataDir, { recursive: true, force: true }),
  });
}

/** What both peers' runs share: names, the subnet, ports, container i's address. */
function peerShape(what, o, gw, subnet) {
  return { what, prefix: o.name, br: o.name, gw, subnet, port0: o.port0, destPrefix: `${o.net}.`, addrOf: (i) => `${ipOf(o.net, o.third, i)}/22` };
}

/** netavark, N containers; `o` as for cniRun, with bin (the netavark binary) for dir. */
export function netavarkRun(n, o) {
  const subnet = `${o.net}.${o.third}.0/22`;
  const gw = `${o.net}.${o.third}.1`;
  const netId = Buffer.from(o.name.padEnd(32, '0')).toString('hex').slice(0, 64);
  const files = new Map();
  const options = (i) => ({
    container_id: (Buffer.from(`${o.name}-${i}`).toString('hex') + '0'.repeat(64)).slice(0, 64),
    container_name: `${o.name}-${i}`,
    port_mappings: [{ host_ip: '', container_port: 80, host_port: o.port0 + i, range: 1, protocol: 'tcp' }],
    networks: { [o.name]: { static_ips: [ipOf(o.net, o.third, i)], interface_name: 'eth0' } },
    network_info: {
      [o.name]: {
        name: o.name,
        id: netId,
        driver: 'bridge',
        network_interface: o.name,
        subnets: [{ subnet, gateway: gw }],
        ipv6_enabled: false,
        internal: false,
        dns_enabled: false,
        ipam_options: { driver: 'host-local' },
      },
    },
  });
  // The JSON podman would hand over, written before the clock starts (podman has it in memory).
  for (let i = 1; i <= n; i++) files.set(i, JSON.stringify(options(i)));
  const env = { PATH, NETAVARK_FW: 'iptables' };
  return peerRun(n, {
    ...peerShape('netavark', o, gw, subnet),
    chainPrefix: /^NETAVARK/,
    mark: `name: ${o.name} `,
    deleteBridge: false,
    add: (i) => run(o.bin, ['setup', `/run/netns/${o.name}-${i}`], { input: files.get(i), env }),
    del: (i) => run(o.bin, ['teardown', `/run/netns/${o.name}-${i}`], { input: files.get(i), env }),
  });
}
