// The bench's data-plane rows (BENCH_DATAPLANE=1): iperf3 TCP throughput container→container on
// one bridge and host→container through a published port, in a netlab lab and on the same path
// built by hand from bare kernel objects (two namespaces, veths, a bridge, no rules), in one run,
// rounds interleaved (and the order within a round alternated), best of each; and the paths of
// bench-dataplane-paths.mjs (out through MASQUERADE, across a VXLAN pair) the same way. Knobs: BENCH_DP_ROUNDS=3, BENCH_DP_SECONDS=3.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bareVxlan, netlabVxlan, outsidePath } from './bench-dataplane-paths.mjs';

const rounds = Number(process.env.BENCH_DP_ROUNDS ?? 3);
const seconds = Number(process.env.BENCH_DP_SECONDS ?? 3);
const sh = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** Gbit/s received by an iperf3 client run with `prefix` (e.g. ip netns exec NS). */
function iperf(prefix, host, port) {
  const out = JSON.parse(sh(prefix[0] ?? 'iperf3', [...prefix.slice(1), ...(prefix.length ? ['iperf3'] : []), '-c', host, '-p', String(port), '-t', String(seconds), '-J']));
  return out.end.sum_received.bits_per_second / 1e9;
}

/** Two bare namespaces on a bare bridge, an iperf3 server in the second; returns its teardown. */
function bare(id, net) {
  const [a, b, br] = [`nldpa${id}`, `nldpb${id}`, `nldpbr${id}`];
  const cmds = [`netns add ${a}`, `netns add ${b}`, `link add ${br} type bridge`, `addr add ${net}.80.1/24 dev ${br}`, `link set ${br} up`];
  for (const [ns, _ip, v] of [
    [a, 2, `nldpva${id}`],
    [b, 3, `nldpvb${id}`],
  ]) {
    cmds.push(`link add ${v} type veth peer name eth0 netns ${ns}`, `link set ${v} master ${br} up`);
  }
  const down = () => {
    try {
      process.kill(Number(sh('cat', [`/run/nldp${id}.pid`]).trim()));
    } catch {
      /* not started, or gone */
    }
    execFileSync('ip', ['-force', '-batch', '-'], { input: `netns del ${a}\nnetns del ${b}\nlink del ${br}\n`, stdio: ['pipe', 'ignore', 'ignore'] });
  };
  try {
    execFileSync('ip', ['-batch', '-'], { input: `${cmds.join('\n')}\n` });
    for (const [ns, ip] of [
      [a, 2],
      [b, 3],
    ]) {
      const inNs = [`addr add ${net}.80.${ip}/24 dev eth0`, 'link set eth0 up', 'link set lo up', `route add default via ${net}.80.1`];
      execFileSync('ip', ['-n', ns, '-batch', '-'], { input: `${inNs.join('\n')}\n` });
    }
    sh('ip', ['netns', 'exec', b, 'iperf3', '-s', '-D', '-p', '5201', '-I', `/run/nldp${id}.pid`]);
  } catch (e) {
    down();
    throw e;
  }
  return { a, server: `${net}.80.3`, down };
}

async function netlabLab(work, id, net, port0, netlab) {
  const file = join(work, 'dataplane.yaml');
  writeFileSync(
    file,
    `name: benchdp${id}\nnetworks:\n  net:\n    bridge: nld${id}\n    subnet: ${net}.84.0/24\ncontainers:\n  srv: { publish: ["127.0.0.1:${port0}:5201"], command: [iperf3, -s, -p, "5201"] }\n  cli: {}\n`,
  );
  await netlab(['up', '-f', file]);
  const info = async (name) => {
    const out = (await netlab(['inspect', name, '-f', file])).out;
    const doc = JSON.parse(out.slice(out.search(/^[[{]/m)));
    return Array.isArray(doc) ? doc[0] : doc;
  };
  const [srv, cli] = [await info('srv'), await info('cli')];
  return { file, server: srv.NetworkSettings.IPAddress, cliNs: cli.NetworkSettings.SandboxKey.split('/').pop() };
}

/** The paths measured, each a pair of clients (netlab's, bare) to time in turn. */
function pairs(b, lab, out, vx) {
  return {
    c2c: { netlab: () => iperf(['ip', 'netns', 'exec', lab.cliNs], lab.server, 5201), bare: () => iperf(['ip', 'netns', 'exec', b.a], b.server, 5201) },
    host: { netlab: () => iperf([], '127.0.0.1', lab.port0), bare: () => iperf([], b.server, 5201) },
    masq: { netlab: () => iperf(['ip', 'netns', 'exec', lab.cliNs], out.server, out.port), bare: () => iperf(['ip', 'netns', 'exec', b.a], out.server, out.port) },
    vxlan: { netlab: () => iperf(['ip', 'netns', 'exec', vx.lab.clientNs], vx.lab.server, 5201), bare: () => iperf(['ip', 'netns', 'exec', vx.bare.clientNs], vx.bare.server, 5201) },
  };
}

export async function dataplaneRows({ work, id, net, port0, netlab }) {
  const b = bare(id, net);
  const downs = [b.down];
  const best = {};
  try {
    const lab = { ...(await netlabLab(work, id, net, port0, netlab)), port0 };
    downs.push(() => netlab(['down', '-f', lab.file]));
    const out = outsidePath(id, net, `${net}.80.0/24`);
    downs.push(out.down);
    const vx = { bare: bareVxlan(id, net) };
    downs.push(vx.bare.down);
    vx.lab = await netlabVxlan(work, id, net, netlab);
    downs.push(() => netlab(['down', '-f', vx.lab.file]));
    await new Promise((r) => setTimeout(r, 1000)); // the labs' iperf3 servers starting
    const paths = pairs(b, lab, out, vx);
    for (let r = 0; r < rounds; r++) {
      const got = [];
      for (const [path, p] of Object.entries(paths)) {
        best[path] ??= { netlab: 0, bare: 0 };
        for (const who of r % 2 ? ['bare', 'netlab'] : ['netlab', 'bare']) {
          const gbits = p[who]();
          best[path][who] = Math.max(best[path][who], gbits);
          got.push(`${path} ${who} ${gbits.toFixed(1)}`);
        }
      }
      process.stderr.write(`bench: data plane round ${r + 1}: ${got.join(', ')} Gbit/s\n`);
    }
  } finally {
    for (const d of downs.reverse()) await Promise.resolve(d()).catch(() => undefined);
  }
  const row = (what, x) => (x ? `| ${what} | ${x.netlab.toFixed(1)} | ${x.bare.toFixed(1)} | ${(x.netlab / x.bare).toFixed(2)} |` : `| ${what} | | | |`);
  return [
    '',
    `data plane: iperf3 TCP, ${seconds} s per run, best of ${rounds} interleaved rounds (netlab labs on iptables; bare: the same path made with ip and no rules but a masquerade where the path needs one; see scripts/bench-dataplane*.mjs)`,
    '',
    '| path | netlab Gbit/s | bare Gbit/s | netlab / bare |',
    '|---|---:|---:|---:|',
    row('container → container, one bridge', best.c2c),
    row('host → container (netlab: published port on 127.0.0.1, DNAT; bare: the container address)', best.host),
    row('container → outside namespace through MASQUERADE', best.masq),
    row('container → container across a VXLAN pair (two simulated hosts)', best.vxlan),
  ];
}
