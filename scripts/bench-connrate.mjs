// The bench's connection-rate rows (with BENCH_DATAPLANE=1): new TCP connections per second
// from an outside namespace to a published port of a lab that publishes 1, 1,000 or 10,000
// ports separately (consecutive host ports, container ports two apart: no range merges them),
// per firewall backend, to the last of them; one lab up at a time, rounds interleaved, best of.
// The server accepts and closes; the client keeps 16 connections in flight for BENCH_DP_SECONDS.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const SERVER = `import { createServer } from 'node:net';
createServer((s) => s.destroy()).listen(Number(process.argv[2]), '0.0.0.0');`;
const CLIENT = `import { connect } from 'node:net';
const [host, port, seconds] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const until = performance.now() + seconds * 1000;
let done = 0;
const one = () => { if (performance.now() >= until) return; const s = connect(port, host); s.on('close', () => { done++; one(); }); s.on('error', () => {}); };
for (let i = 0; i < 16; i++) one();
setTimeout(() => { console.log(done / seconds); process.exit(0); }, seconds * 1000 + 50);`;

/** An outside namespace joined to the host by a veth: the clients' machine. */
function outside(id, net) {
  const [ns, hostIf] = [`nldpo${id}`, `nldpo${id}`];
  execFileSync('ip', ['-batch', '-'], { input: `netns add ${ns}\nlink add ${hostIf} type veth peer name eth0 netns ${ns}\naddr add ${net}.92.1/24 dev ${hostIf}\nlink set ${hostIf} up\n` });
  execFileSync('ip', ['-n', ns, '-batch', '-'], { input: `addr add ${net}.92.2/24 dev eth0\nlink set eth0 up\nlink set lo up\nroute add default via ${net}.92.1\n` });
  return { ns, host: `${net}.92.1`, down: () => execFileSync('ip', ['netns', 'del', ns]) };
}

// The server script is in the bench's folder under /tmp, which a container sees only as a volume (its /tmp is its own).
function labFile(work, { id, net, port0, n, firewall }) {
  const publish = Array.from({ length: n }, (_, i) => `"${port0 + i}:${1000 + 2 * i}"`).join(', ');
  const file = join(work, `rate-${firewall}-${n}.yaml`);
  const last = 1000 + 2 * (n - 1);
  writeFileSync(
    file,
    `name: benchr${id}\nfirewall: ${firewall}\nnetworks:\n  net:\n    bridge: nlr${id}\n    subnet: ${net}.96.0/24\ncontainers:\n  srv: { publish: [${publish}], command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(join(work, 'rate-server.mjs'))}, "${last}"], volumes: [${JSON.stringify(`${work}:${work}:ro`)}] }\n`,
  );
  return file;
}

export async function connRateRows({ work, id, net, netlab }) {
  const rounds = Number(process.env.BENCH_DP_ROUNDS ?? 3);
  const seconds = Number(process.env.BENCH_DP_SECONDS ?? 3);
  const port0 = Number(process.env.BENCH_RATE_PORT0 ?? 10000);
  writeFileSync(join(work, 'rate-server.mjs'), SERVER);
  writeFileSync(join(work, 'rate-client.mjs'), CLIENT);
  const sizes = [1, 1000, 10000];
  const best = {};
  const o = outside(id, net);
  try {
    for (let r = 0; r < rounds; r++) {
      for (const firewall of ['nftables', 'iptables']) {
        for (const n of sizes) {
          const file = labFile(work, { id, net, port0, n, firewall });
          let rate;
          try {
            await netlab(['up', '-f', file]);
            await new Promise((res) => setTimeout(res, 300)); // the server starting
            rate = Number(execFileSync('ip', ['netns', 'exec', o.ns, process.execPath, join(work, 'rate-client.mjs'), o.host, String(port0 + n - 1), String(seconds)], { encoding: 'utf8' }).trim());
          } finally {
            await netlab(['down', '-f', file]).catch(() => undefined);
          }
          best[`${firewall} ${n}`] = Math.max(best[`${firewall} ${n}`] ?? 0, rate);
          process.stderr.write(`bench: connection rate round ${r + 1}, ${firewall}, ${n} ports: ${Math.round(rate)}/s\n`);
        }
      }
    }
  } finally {
    o.down();
  }
  const row = (fw) => `| ${fw} | ${sizes.map((n) => Math.round(best[`${fw} ${n}`])).join(' | ')} | ${(best[`${fw} 10000`] / best[`${fw} 1`]).toFixed(2)} |`;
  return [
    '',
    `new TCP connections per second from an outside namespace to the last of N separately published ports (16 in flight, ${seconds} s, best of ${rounds} interleaved rounds; client and server are node, so the absolute rate is theirs, the ratio is the firewall's)`,
    '',
    '| firewall | N=1 | N=1,000 | N=10,000 | 10,000 / 1 |',
    '|---|---:|---:|---:|---:|',
    row('nftables'),
    row('iptables'),
  ];
}
