/**
 * Host ports for tests to publish: picked by the kernel and checked free by binding them, so two
 * runs of the suite on one machine never publish the same port (a fixed port did collide).
 */
import { createServer, type AddressInfo, type Server } from 'node:net';

/** Listens on `port` on every address (IPv6 and IPv4, or IPv4 alone without IPv6); undefined when it is taken. */
function hold(port: number, host = '::'): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', (e: NodeJS.ErrnoException) => resolve(host === '::' && e.code !== 'EADDRINUSE' ? hold(port, '0.0.0.0') : undefined));
    s.listen({ port, host, exclusive: true }, () => resolve(s));
  });
}

const release = (s: Server) => new Promise<void>((r) => s.close(() => r()));

/**
 * The first of `count` consecutive host ports that no socket listens on: the kernel picks the
 * first (from its ephemeral range, where no test's fixed port is), the rest are bound in turn.
 * All are released before returning; a lab's DNAT holds no socket, but its ports come from
 * the same check at its own `up`, so a clash is refused there rather than lost.
 */
export async function freePorts(count = 1): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const first = await hold(0);
    if (!first) continue;
    const base = (first.address() as AddressInfo).port;
    const held = [first];
    for (let p = base + 1; p < base + count && p <= 65535; p++) {
      const s = await hold(p);
      if (!s) break;
      held.push(s);
    }
    await Promise.all(held.map(release));
    if (held.length === count) return base;
  }
  throw new Error(`no ${count} consecutive free host ports found`);
}
