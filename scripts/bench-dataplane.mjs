// The bench's data-plane rows (BENCH_DATAPLANE=1): iperf3 TCP throughput container→container on
// one bridge and host→container through a published port, in a netlab lab and on the same path
// built by hand from bare kernel objects (two namespaces, veths, a bridge, no rules), in one run,
// rounds interleaved, best of each. Knobs: BENCH_DP_ROUNDS=3, BENCH_DP_SECONDS=3.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

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

export async function dataplaneRows({ work, id, net, port0, netlab }) {
  const b = bare(id, net);
  let lab;
  const best = { c2c: { netlab: 0, bare: 0 }, host: { netlab: 0, bare: 0 } };
  try {
    lab = await netlabLab(work, id, net, port0, netlab);
    await new Promise((r) => setTimeout(r, 500)); // the lab's iperf3 server starting
    for (let r = 0; r < rounds; r++) {
      const got = {
        bareC2c: iperf(['ip', 'netns', 'exec', b.a], b.server, 5201),
        labC2c: iperf(['ip', 'netns', 'exec', lab.cliNs], lab.server, 5201),
        bareHost: iperf([], b.server, 5201),
        labHost: iperf([], '127.0.0.1', port0),
      };
      best.c2c.bare = Math.max(best.c2c.bare, got.bareC2c);
      best.c2c.netlab = Math.max(best.c2c.netlab, got.labC2c);
      best.host.bare = Math.max(best.host.bare, got.bareHost);
      best.host.netlab = Math.max(best.host.netlab, got.labHost);
      process.stderr.write(
        `bench: data plane round ${r + 1}: ${Object.entries(got)
          .map(([k, v]) => `${k} ${v.toFixed(1)}`)
          .join(', ')} Gbit/s\n`,
      );
    }
  } finally {
    if (lab) await netlab(['down', '-f', lab.file]).catch(() => undefined);
    b.down();
  }
  const row = (what, x) => `| ${what} | ${x.netlab.toFixed(1)} | ${x.bare.toFixed(1)} | ${(x.netlab / x.bare).toFixed(2)} |`;
  return [
    '',
    `data plane: iperf3 TCP, ${seconds} s per run, best of ${rounds} interleaved rounds (netlab lab on iptables; bare: two namespaces, veths and a bridge made with ip, no rules)`,
    '',
    '| path | netlab Gbit/s | bare Gbit/s | netlab / bare |',
    '|---|---:|---:|---:|',
    row('container → container, one bridge', best.c2c),
    row('host → container (netlab: published port on 127.0.0.1, DNAT; bare: the container address)', best.host),
  ];
}
