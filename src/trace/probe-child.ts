/**
 * Sends one trace probe from the namespace it runs in and prints what came of it as JSON.
 * argv: tcp|udp DEST PORT SOURCE_PORT TIMEOUT_MS. Run by `netlab trace` through `ip netns exec`.
 */
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';

const [proto, host, port, sport, timeoutMs] = process.argv.slice(2) as [string, string, string, string, string];
const done = (outcome: string, code?: string) => {
  process.stdout.write(`${JSON.stringify({ outcome, code })}\n`);
  process.exit(0);
};
const OUTCOME: Record<string, string> = { ECONNREFUSED: 'refused', EHOSTUNREACH: 'unreachable', ENETUNREACH: 'unreachable', EADDRINUSE: 'busy' };
setTimeout(() => done(proto === 'tcp' ? 'timeout' : 'no-answer'), Number(timeoutMs));

if (proto === 'tcp') {
  const s = connect({ host, port: Number(port), localPort: Number(sport) });
  // Reset at once: the trace follows the first packet each way, no more of the connection.
  s.on('connect', () => {
    s.resetAndDestroy();
    done('connected');
  });
  s.on('error', (e: NodeJS.ErrnoException) => done(OUTCOME[e.code ?? ''] ?? 'error', e.code));
} else {
  const s = createSocket('udp4');
  s.on('error', (e: NodeJS.ErrnoException) => done(OUTCOME[e.code ?? ''] ?? 'error', e.code));
  s.on('message', () => done('answered'));
  s.bind(Number(sport), () => s.connect(Number(port), host, () => s.send('netlab trace probe\n')));
}
