#!/usr/bin/env node
// npm run bench (as root): setup and teardown of N containers on one bridge, each with one
// published port, by netlab (each backend) and by the kernel floor (scripts/floor/floor.sh:
// one `ip -batch`, one raw-rtnetlink program, one nft transaction), in one run, side by side;
// and the floor once more with the other objects netlab makes (floor.sh EXTRAS=1), to show how
// much of the difference is the work and how much is netlab.
// Not a test: it prints a table. Knobs: BENCH_N="50 200 1000", BENCH_REPEAT=1,
// BENCH_BACKENDS="netlink iproute2", BENCH_FLOOR=1 (0: no floor run), BENCH_NET=10.107 (a /16, none the tests use:
// NET.64.0/22 for netlab, NET.68.0/22 for the warm row's warm-up lab, NET.0.0/22 for the floor), BENCH_PORT0=30000 (container i publishes
// PORT0+i; the floor uses the same ports after netlab is down), BENCH_NOOP=1 (no-op ups per run),
// BENCH_PEERS=1 (0: no peer rows), BENCH_PEER_REPEAT=1 (runs of each peer, best of; they take minutes),
// BENCH_RESIDENT=1 (0: no row for the engine already loaded and warm, scripts/bench-resident.mjs),
// BENCH_COMMANDS=1 (0: no rows for containers that run a command, scripts/bench-commands.mjs),
// BENCH_DATAPLANE=0 (1: throughput and connection-rate rows, scripts/bench-dataplane.mjs; iperf3),
// BENCH_RANGE=1 (0: no rows for a 10,000-port range beside one port, scripts/bench-range.mjs).
// Peer rows (scripts/bench-peers.mjs says exactly what they time): the same lab made by the CNI
// bridge+portmap plugins and by netavark, one exec per container as a runtime does, on NET.128.0/22
// and NET.192.0/22, the same ports after the floor is down. Only when installed; on Debian:
// `apt-get install containernetworking-plugins netavark` (not in .ci/run: CI runs no benchmark).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cniRun, findCni, findNetavark, netavarkRun } from './bench-peers.mjs';
import { commandLabFile, processFloor } from './bench-commands.mjs';
import { dataplaneRows } from './bench-dataplane.mjs';
import { connRateRows } from './bench-connrate.mjs';
import { rangeRows } from './bench-range.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'cli', 'main.js');
const sizes = (process.env.BENCH_N ?? '50 200 1000').split(/\s+/).filter(Boolean).map(Number);
const repeat = Number(process.env.BENCH_REPEAT ?? 1);
const backends = (process.env.BENCH_BACKENDS ?? 'netlink iproute2').split(/\s+/).filter(Boolean);
const withFloor = process.env.BENCH_FLOOR !== '0';
const net = process.env.BENCH_NET ?? '10.107';
const port0 = Number(process.env.BENCH_PORT0 ?? 30000);
const noops = Math.max(1, Number(process.env.BENCH_NOOP ?? 1));
const withPeers = process.env.BENCH_PEERS !== '0';
const peerRepeat = Number(process.env.BENCH_PEER_REPEAT ?? 1);
const withResident = process.env.BENCH_RESIDENT !== '0';
const withCommands = process.env.BENCH_COMMANDS !== '0';
const withDataplane = process.env.BENCH_DATAPLANE === '1';
const withRange = process.env.BENCH_RANGE !== '0';
const cniDir = withPeers ? findCni() : undefined;
const netavarkBin = withPeers ? findNetavark() : undefined;
if (!/^\d+\.\d+$/.test(net) || !(port0 > 0 && port0 + Math.max(...sizes) < 65536)) throw new Error('bad BENCH_NET or BENCH_PORT0');
// Names of its own, so that two runs on one machine do not meet: lab bench<N><id>, bridge nlb<id>,
// floor nlbf<id>, peers nlpeerc<id> (CNI) and nlpeern<id> (netavark): bridge, network and netns prefix.
const id = Math.random().toString(16).slice(2, 6);
if (process.getuid?.() !== 0) throw new Error('run the benchmark as root (sudo npm run bench)');
if (!existsSync(cli)) execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });

const work = mkdtempSync(join(tmpdir(), 'netlab-bench-'));
// Its own state folder; the host lock is still the host's (shared chains), so it waits for other runs.
// The CLI runs without NODE_EXTRA_CA_CERTS, as `sudo netlab` does (sudo's env_reset drops it):
// with it, node reads the whole CA bundle at start (40-50 ms here), and netlab makes no TLS connection.
const caCerts = process.env.NODE_EXTRA_CA_CERTS;
const env = { ...process.env, NETLAB_RUN_DIR: join(work, 'run'), NETLAB_LOG_LEVEL: 'warn' };
delete env.NODE_EXTRA_CA_CERTS;

function labFile(n) {
  let y = `name: bench${n}${id}\nnetworks:\n  net:\n    bridge: nlb${id}\n    subnet: ${net}.64.0/22\ncontainers:\n`;
  for (let i = 1; i <= n; i++) y += `  c${i}: { publish: ["${port0 + i}:80"] }\n`;
  const f = join(work, `bench${n}.yaml`);
  writeFileSync(f, y);
  return f;
}

/**
 * Runs the CLI as a child; wall time, its peak RSS (VmHWM) and CPU time (user + system, to the
 * last 5 ms poll of /proc before it exits: what a wait for the host lock does not inflate).
 */
const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
function netlab(args) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let hwm = 0;
    let cpuTicks = 0;
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) hwm = Math.max(hwm, Number(m[1]));
        const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        cpuTicks = Number(f[11]) + Number(f[12]);
      } catch {
        /* exited */
      }
    }, 5);
    child.on('exit', (code) => {
      clearInterval(poll);
      const ms = performance.now() - started;
      if (code !== 0) reject(new Error(`netlab ${args.join(' ')} exited ${code}:\n${out}`));
      else resolve({ ms, rssMb: hwm / 1024, cpuMs: (cpuTicks * 1000) / clockTicks, out });
    });
  });
}

/**
 * The engine already loaded and warm (scripts/bench-resident.mjs): setup, no-op ups and teardown
 * called in one long-lived process after a warm-up, as a resident engine would run them.
 */
function resident(file, backend) {
  const warm = join(work, 'warmup.yaml');
  writeFileSync(warm, `name: benchw${id}\nnetworks:\n  net:\n    bridge: nlw${id}\n    subnet: ${net}.68.0/22\ncontainers:\n  c1: {}\n`);
  const out = execFileSync(process.execPath, [join(root, 'scripts', 'bench-resident.mjs'), file, warm, backend, String(noops)], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(out.trim().split('\n').at(-1));
}

/** The floor's run; with `extras`, also what netlab makes beside the links (floor.sh EXTRAS=1). */
function floor(n, extras = false) {
  const floorEnv = { ...process.env, NAME: `nlbf${id}`, VETH: 'nlbf', NET: net, PORT0: String(port0), TEARDOWN: 'netns', EXTRAS: extras ? '1' : '0' };
  const out = execFileSync('bash', [join(root, 'scripts', 'floor', 'floor.sh'), String(n)], { env: floorEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const r = JSON.parse(out.trim().split('\n').at(-1));
  return { setup: r.setup_ms, teardown: r.teardown_ms + r.teardown_settle_ms };
}

const best = (xs) => Math.min(...xs);
/** What else is on the machine: iptables rules and namespaces (each iptables call of the peers reads the whole table, and so does netlab's observe). */
function background() {
  const count = (cmd, args, re) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 256 << 20 })
        .split('\n')
        .filter((l) => re.test(l)).length;
    } catch {
      return '?';
    }
  };
  return `${count('iptables-save', [], /^-A /)} iptables rules and ${count('ip', ['netns', 'list'], /\S/)} namespaces`;
}
/**
 * What a run costs besides its changes, whatever N: node's start; a dry-run `up` of a
 * one-container lab (node, the modules `up` loads, reading the host and planning); a `down` of a
 * lab that is not up (node, the modules `down` loads, reading the host). No setup (teardown) can
 * take less than that plus the floor's own time, so its ratio to a floor is at least 1 + that / floor.
 */
async function fixedCosts() {
  const file = join(work, 'one.yaml');
  writeFileSync(file, `name: bench1x${id}\nnetworks:\n  net:\n    bridge: nlb${id}\n    subnet: ${net}.64.0/22\ncontainers:\n  c1: {}\n`);
  await netlab(['up', '--dry-run', '-f', file]); // parsed and cached, as the timed runs' files are
  const nodeStart = [];
  const nodeStartCa = [];
  const dryRun = [];
  const downNothing = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    execFileSync(process.execPath, ['-e', '0'], { env });
    nodeStart.push(performance.now() - t);
    if (caCerts) {
      const c = performance.now();
      execFileSync(process.execPath, ['-e', '0'], { env: { ...env, NODE_EXTRA_CA_CERTS: caCerts } });
      nodeStartCa.push(performance.now() - c);
    }
    dryRun.push((await netlab(['up', '--dry-run', '-f', file])).ms);
    downNothing.push((await netlab(['down', '-f', file])).ms);
  }
  return { nodeStart: best(nodeStart), nodeStartCa: nodeStartCa.length ? best(nodeStartCa) : undefined, dryRun: best(dryRun), downNothing: best(downNothing) };
}

/**
 * Rows for labs whose containers run a command (sleep, a tiny server), beside the floor's own
 * process start and stop; their ratios are to the floors plus that process start (stop).
 */
async function commandRows(n, floors) {
  const out = [];
  for (const kind of ['sleep', 'server']) {
    const file = commandLabFile(work, { n, kind, id, net, port0 });
    await netlab(['up', '--dry-run', '-f', file]);
    const upR = await netlab(['up', '-f', file, '--backend', backends[0]]).catch(async (e) => {
      await netlab(['down', '-f', file]).catch(() => undefined);
      throw e;
    });
    const downR = await netlab(['down', '-f', file, '--backend', backends[0]]);
    const pf = await processFloor(n, kind, id);
    process.stderr.write(
      `bench: N=${n} every container runs ${kind}: up ${Math.round(upR.ms)} ms, down ${Math.round(downR.ms)} ms; floor's process start ${Math.round(pf.start)} ms, stop ${Math.round(pf.stop)} ms\n`,
    );
    const plus = (a, b) => (a === undefined ? undefined : a + b);
    const f = { fs: plus(floors.fs, pf.start), ft: plus(floors.ft, pf.stop), fxs: plus(floors.fxs, pf.start), fxt: plus(floors.fxt, pf.stop) };
    out.push({ n, who: `floor's own start/stop of ${kind} in N namespaces (nsenter)`, setup: pf.start, teardown: pf.stop });
    out.push({
      n,
      who: `netlab --backend ${backends[0]}, every container runs ${kind} (ratios: floors + process start/stop)`,
      setup: upR.ms,
      teardown: downR.ms,
      rss: Math.max(upR.rssMb, downR.rssMb),
      ...f,
    });
  }
  return out;
}

const loadAtStart = `${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}, ${background()}`;
const rows = [];
const peerFailures = [];
let fixed;
let dataLines = [];
try {
  fixed = await fixedCosts();
  for (const n of sizes) {
    const file = labFile(n);
    // netlab caches a parsed file: parsed here, untimed, so that every backend's setup below is
    // an `up` of a file it has seen (a first `up` of a new or edited file parses it first).
    const parse = await netlab(['up', '--dry-run', '-f', file]);
    process.stderr.write(`bench: N=${n} up --dry-run before timing (parses the file if this build has not): ${Math.round(parse.ms)} ms\n`);
    const f = { setup: [], teardown: [] };
    const fx = { setup: [], teardown: [] };
    const peers = { cni: { setup: [], teardown: [] }, netavark: { setup: [], teardown: [] } };
    const nl = { netlink: { setup: [], teardown: [], noop: [], rss: 0 }, iproute2: { setup: [], teardown: [], noop: [], rss: 0 } };
    const warm = { setup: [], teardown: [], noop: [] };
    for (let r = 0; r < repeat; r++) {
      // Interleaved, so that each sees the same machine load.
      for (const backend of backends) {
        const b = nl[backend];
        let upR, downR;
        try {
          upR = await netlab(['up', '-f', file, '--backend', backend]);
          const times = [];
          for (let k = 0; k < noops; k++) {
            const noop = await netlab(['up', '-f', file, '--backend', backend]);
            if (!/nothing to change/.test(noop.out)) throw new Error(`second up changed something:\n${noop.out}`);
            b.noop.push(noop.ms);
            b.rss = Math.max(b.rss, noop.rssMb);
            times.push(Math.round(noop.ms));
          }
          process.stderr.write(`bench: N=${n} ${backend}: up ${Math.round(upR.ms)} ms (${Math.round(upR.rssMb)} MB), no-op up ${times.join(' ')} ms`);
        } finally {
          downR = await netlab(['down', '-f', file, '--backend', backend]);
        }
        b.setup.push(upR.ms);
        b.teardown.push(downR.ms);
        b.rss = Math.max(b.rss, upR.rssMb, downR.rssMb);
        process.stderr.write(`, down ${Math.round(downR.ms)} ms\n`);
      }
      if (withResident) {
        const w = resident(file, backends[0]);
        warm.setup.push(w.setup);
        warm.teardown.push(w.teardown);
        warm.noop.push(...w.noop);
        process.stderr.write(`bench: N=${n} ${backends[0]} engine loaded and warm: up ${Math.round(w.setup)} ms, no-op up ${w.noop.map(Math.round).join(' ')} ms, down ${Math.round(w.teardown)} ms\n`);
      }
      if (!withFloor) continue;
      const fl = floor(n);
      f.setup.push(fl.setup);
      f.teardown.push(fl.teardown);
      process.stderr.write(`bench: N=${n} floor: setup ${fl.setup} ms, teardown ${fl.teardown} ms\n`);
      const flx = floor(n, true);
      fx.setup.push(flx.setup);
      fx.teardown.push(flx.teardown);
      process.stderr.write(`bench: N=${n} floor with netlab's other objects: setup ${flx.setup} ms, teardown ${flx.teardown} ms\n`);
    }
    for (let r = 0; r < peerRepeat; r++) {
      for (const [key, found, go, o] of [
        ['cni', cniDir, cniRun, { dir: cniDir, name: `nlpeerc${id}`, third: 128 }],
        ['netavark', netavarkBin, netavarkRun, { bin: netavarkBin, name: `nlpeern${id}`, third: 192 }],
      ]) {
        if (!found) continue;
        let pr;
        try {
          pr = go(n, { ...o, net, port0, work });
        } catch (e) {
          // A peer that fails (its checks, an exec) costs its row, not the run's other rows.
          process.stderr.write(`bench: N=${n} ${key} FAILED: ${e.message}\n`);
          peerFailures.push(`(${key} failed at N=${n}: ${e.message.split('\n')[0]})`);
          continue;
        }
        peers[key].setup.push(pr.setup);
        peers[key].teardown.push(pr.teardown);
        process.stderr.write(`bench: N=${n} ${key}: setup ${Math.round(pr.setup)} ms, teardown ${Math.round(pr.teardown)} ms\n`);
      }
    }
    const fs = withFloor ? best(f.setup) : undefined;
    const ft = withFloor ? best(f.teardown) : undefined;
    const fxs = withFloor ? best(fx.setup) : undefined;
    const fxt = withFloor ? best(fx.teardown) : undefined;
    if (withFloor) {
      rows.push({ n, who: 'floor (ip -batch + nlfloor + nft)', setup: fs, teardown: ft, fs, ft, fxs, fxt });
      rows.push({ n, who: 'floor + the same other objects as netlab', setup: fxs, teardown: fxt, fs, ft, fxs, fxt });
    }
    for (const backend of backends) {
      const b = nl[backend];
      rows.push({ n, who: `netlab --backend ${backend}`, setup: best(b.setup), teardown: best(b.teardown), noop: best(b.noop), rss: b.rss, fs, ft, fxs, fxt });
    }
    if (withCommands) rows.push(...(await commandRows(n, { fs, ft, fxs, fxt })));
    if (warm.setup.length)
      rows.push({ n, who: `netlab's engine loaded and warm (--backend ${backends[0]}; no CLI)`, setup: best(warm.setup), teardown: best(warm.teardown), noop: best(warm.noop), fs, ft, fxs, fxt });
    if (peers.cni.setup.length) rows.push({ n, who: 'CNI bridge+portmap (exec per container)', setup: best(peers.cni.setup), teardown: best(peers.cni.teardown), fs, ft, fxs, fxt });
    if (peers.netavark.setup.length) rows.push({ n, who: 'netavark (exec per container)', setup: best(peers.netavark.setup), teardown: best(peers.netavark.teardown), fs, ft, fxs, fxt });
  }
  if (withRange) dataLines.push(...(await rangeRows({ work, id, net, netlab })));
  if (withDataplane) dataLines = [...dataLines, ...(await dataplaneRows({ work, id, net, port0, netlab })), ...(await connRateRows({ work, id, net, netlab }))];
} finally {
  rmSync(work, { recursive: true, force: true });
}

const per = (ms, n) => (ms / n).toFixed(2);
const ratio = (ms, base) => (base ? (ms / base).toFixed(2) : '');
const lines = [
  `machine: ${execFileSync('nproc', { encoding: 'utf8' }).trim()} cores, kernel ${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim()}, node ${process.version}; setup and teardown best of ${repeat}, no-op up best of ${repeat * noops}${withPeers ? `, peers best of ${peerRepeat}` : ''}; wall time of the CLI process (node start included)`,
  `at the start: load average ${loadAtStart}; at the end: load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}, ${background()} (other runs' included)`,
  '',
  '| N | who | setup ms/ctr | teardown ms/ctr | setup / floor | teardown / floor | setup / same-objects floor | teardown / same-objects floor | no-op up ms | peak RSS MB |',
  '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) =>
    [
      r.n,
      r.who,
      per(r.setup, r.n),
      per(r.teardown, r.n),
      ratio(r.setup, r.fs),
      ratio(r.teardown, r.ft),
      ratio(r.setup, r.fxs),
      ratio(r.teardown, r.fxt),
      r.noop ? Math.round(r.noop) : '',
      r.rss ? Math.round(r.rss) : '',
    ]
      .join(' | ')
      .replace(/^/, '| ')
      .replace(/$/, ' |'),
  ),
  '',
  'floor: scripts/floor/floor.sh, what a hand-written script needs for the links: a bridge, N network namespaces and veth pairs (one ip -batch), each eth0 and lo up with its address and default route (one nlfloor process, raw rtnetlink), one DNAT per port (one nft transaction); teardown deletes the bridge and the namespaces.',
  "same-objects floor: floor.sh EXTRAS=1, the floor plus, made the leanest way, what netlab makes beside the links: the container end's MAC, the host end's alias and hairpin, lo's alias, a UTS namespace per container (its host name), /etc/netns/<ns>/{hosts,resolv.conf,hostname}, a mount namespace per container kept on a file as netlab keeps it (private, its netns's sysfs, tmpfs /run, /run/lock, /tmp, /var/tmp, the three /etc files bound over the host's; made by syscalls in the one nlfloor process, no process per container), a filter accept rule per port and a masquerade, and IPv6 off on each container interface (disable_ipv6=1) before it comes up.",
];
const bound = (fixedMs, floorMs) => (1 + fixedMs / floorMs).toFixed(2);
lines.push(
  '',
  `fixed cost of a run (best of 5): node start ${Math.round(fixed.nodeStart)} ms; \`netlab up --dry-run\` of a 1-container lab ${Math.round(fixed.dryRun)} ms (node start, the modules up loads, reading the host, planning); \`netlab down\` of a lab that is not up ${Math.round(fixed.downNothing)} ms. A setup (teardown) costs at least that plus the floor's own time, so its ratio to a floor is at least 1 + fixed / floor:`,
  ...rows.filter((r) => r.who.startsWith('floor')).map((r) => `  N=${r.n}, ${r.who}: setup at least ${bound(fixed.dryRun, r.setup)}x, teardown at least ${bound(fixed.downNothing, r.teardown)}x`),
);
if (rows.some((r) => r.who.includes('loaded and warm'))) {
  lines.push(
    '',
    `engine loaded and warm: netlab's up and down called in one long-lived process after a warm-up (scripts/bench-resident.mjs), what a resident engine would take; no such daemon exists. A CLI that only handed it the command would add at least node's start (${Math.round(fixed.nodeStart)} ms).`,
  );
}
if (fixed.nodeStartCa !== undefined) {
  lines.push(
    '',
    `NODE_EXTRA_CA_CERTS is set here: the CLI ran without it, as \`sudo netlab\` runs (env_reset); with it node starts in ${Math.round(fixed.nodeStartCa)} ms instead of ${Math.round(fixed.nodeStart)} ms, and every netlab row would take that much longer.`,
  );
}
if (withPeers && !cniDir)
  lines.push('', '(the CNI plugins loopback, bridge, portmap and host-local are not installed here: no CNI bridge+portmap line; Debian: apt-get install containernetworking-plugins)');
if (withPeers && !netavarkBin) lines.push('', '(netavark is not installed here: no netavark line; Debian: apt-get install netavark)');
for (const f of peerFailures) lines.push('', f);
if (cniDir || netavarkBin)
  lines.push(
    '',
    'peer rows: wall time of `ip netns add` (one ip -batch) + one exec per container of each CNI plugin (loopback, bridge, portmap) or of netavark, and back; see scripts/bench-peers.mjs',
  );
if (withCommands)
  lines.push(
    '',
    `command rows: the lab's containers each run \`sleep 3600\` or \`iperf3 -s\` (started by up, stopped by down; the servers publish their own port 5201, the sleeps only expose one, so \`up\`'s wait for listeners ends when they listen), --backend ${backends[0]}, one run; the floor's process start/stop: the same command started in N bare namespaces with nsenter all at once, then SIGTERM and waited for (scripts/bench-commands.mjs).`,
  );
lines.push(...dataLines);
console.log(lines.join('\n'));
