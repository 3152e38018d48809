// The bench's rows for labs whose containers run a command: every container runs `sleep`, or a
// tiny server (`iperf3 -s`, a small C program), started by `up` and stopped by `down`; beside
// them the floor's own process start and stop: the same processes started in N bare namespaces
// with nsenter, all at once, and stopped with SIGTERM, waited for.
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const COMMANDS = {
  sleep: ['sleep', '3600'],
  server: ['iperf3', '-s', '-p', '5201'],
};

/**
 * The container port each kind publishes: the server's own, so that `up`'s wait for commands to
 * listen on their published ports ends when they do; `sleep` listens on nothing, so its port is
 * only exposed (published, `up` would wait its whole 10 s for it).
 */
const PORT_KEY = { sleep: () => 'expose: [80]', server: (port) => `publish: ["${port}:5201"]` };

/** A lab of N containers on one bridge, each with one port and running `kind`'s command. */
export function commandLabFile(work, { n, kind, id, net, port0 }) {
  const cmd = JSON.stringify(COMMANDS[kind]);
  let y = `name: benchc${kind[0]}${n}${id}\nnetworks:\n  net:\n    bridge: nlc${id}\n    subnet: ${net}.72.0/22\ncontainers:\n`;
  for (let i = 1; i <= n; i++) y += `  c${i}: { ${PORT_KEY[kind](port0 + i)}, command: ${cmd} }\n`;
  const f = join(work, `benchc-${kind}-${n}.yaml`);
  writeFileSync(f, y);
  return f;
}

/** Starting and stopping `kind`'s command in N bare namespaces: { start, stop } in ms. */
export async function processFloor(n, kind, id) {
  const names = Array.from({ length: n }, (_, i) => `nlpf${id}-${i}`);
  execFileSync('ip', ['-batch', '-'], { input: names.map((x) => `netns add ${x}\n`).join('') });
  try {
    const t0 = performance.now();
    const children = await Promise.all(
      names.map(
        (ns) =>
          new Promise((resolve, reject) => {
            const c = spawn('nsenter', [`--net=/run/netns/${ns}`, ...COMMANDS[kind]], { detached: true, stdio: 'ignore' });
            c.once('spawn', () => resolve(c));
            c.once('error', reject);
          }),
      ),
    );
    const start = performance.now() - t0;
    const t1 = performance.now();
    await Promise.all(
      children.map((c) => {
        const gone = new Promise((resolve) => c.once('exit', resolve));
        c.kill('SIGTERM');
        return gone;
      }),
    );
    return { start, stop: performance.now() - t1 };
  } finally {
    execFileSync('ip', ['-batch', '-'], { input: names.map((x) => `netns del ${x}\n`).join('') });
  }
}
