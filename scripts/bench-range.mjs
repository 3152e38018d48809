// The bench's port-range rows (BENCH_RANGE=0 leaves them out): `up` and `down` of a one-container
// lab that publishes a 10,000-port range (BENCH_RATE_PORT0..+9999 on the same container ports),
// beside the same lab publishing one port, its floor: what the range adds. Best of
// BENCH_RANGE_REPEAT (5) rounds, the two labs alternated in each.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const repeat = Number(process.env.BENCH_RANGE_REPEAT ?? 5);
const port0 = Number(process.env.BENCH_RATE_PORT0 ?? 10000);

function labFile(work, { id, net, name, publish }) {
  const file = join(work, `range-${name}.yaml`);
  writeFileSync(file, `name: benchr${name}${id}\nnetworks:\n  net:\n    bridge: nlr${name}${id}\n    subnet: ${net}.88.0/24\ncontainers:\n  wide: { publish: ["${publish}"] }\n`);
  return file;
}

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0];

export async function rangeRows({ work, id, net, netlab }) {
  const labs = {
    one: labFile(work, { id, net, name: 'one', publish: `${port0}:${port0}` }),
    range: labFile(work, { id, net, name: 'range', publish: `${port0}-${port0 + 9999}:${port0}-${port0 + 9999}` }),
  };
  const fresh = () => ({ up: Infinity, down: Infinity, upCpu: Infinity, downCpu: Infinity });
  const best = { one: fresh(), range: fresh() };
  for (let r = 0; r < repeat; r++) {
    for (const name of r % 2 ? ['range', 'one'] : ['one', 'range']) {
      try {
        const up = await netlab(['up', '-q', '-f', labs[name]]);
        const down = await netlab(['down', '-q', '-f', labs[name]]);
        const b = best[name];
        best[name] = { up: Math.min(b.up, up.ms), down: Math.min(b.down, down.ms), upCpu: Math.min(b.upCpu, up.cpuMs), downCpu: Math.min(b.downCpu, down.cpuMs) };
        const what = name === 'one' ? 'one port' : '10,000-port range';
        process.stderr.write(`bench: ${what}: up ${Math.round(up.ms)} ms (CPU ${Math.round(up.cpuMs)}), down ${Math.round(down.ms)} ms (CPU ${Math.round(down.cpuMs)}), load ${loadavg()}\n`);
      } finally {
        await netlab(['down', '-q', '-f', labs[name]]).catch(() => undefined);
      }
    }
  }
  const row = (what, x) =>
    `| ${what} | ${Math.round(x.up)} | ${Math.round(x.upCpu)} | ${Math.round(x.down)} | ${Math.round(x.downCpu)} | ${(x.up / best.one.up).toFixed(2)} | ${(x.down / best.one.down).toFixed(2)} |`;
  return [
    '',
    `a published port range: one container, best of ${repeat} rounds alternated; wall time of the CLI (node start included) and its CPU time (user + system), which a wait for the host lock does not inflate`,
    '',
    '| lab | up ms | up CPU ms | down ms | down CPU ms | up / one port | down / one port |',
    '|---|---:|---:|---:|---:|---:|---:|',
    row(`one port (${port0}:${port0})`, best.one),
    row(`a 10,000-port range (${port0}-${port0 + 9999}, one binding, one DNAT and one ACCEPT)`, best.range),
  ];
}
