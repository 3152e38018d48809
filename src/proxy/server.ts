/**
 * The lab's IPv6 loopback proxy, a process of the lab (Docker's docker-proxy, one per lab rather
 * than one per port): it listens on [::1]:P for each published port that [::1] reaches and
 * carries each TCP connection and UDP flow to the container. The container sees the proxy's
 * address as the source, as with docker-proxy.
 *
 *   node dist/proxy/server.js <config.json>
 *
 * SIGHUP re-reads the config: listeners of ports that went are closed, new ones opened, and open
 * connections of kept ports go on. `<config>.loaded` then holds the config's hash and, a line
 * each, the ports it could not listen on. SIGTERM stops it.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { ProxyConfig, ProxyRoute } from './config.js';

interface Flow {
  upstream: dgram.Socket;
  timer?: NodeJS.Timeout;
  replied: boolean;
}

interface Listener {
  route: ProxyRoute;
  close(): void;
}

const configPath = process.argv[2];
if (!configPath) {
  process.stderr.write('usage: server.js <config.json>\n');
  process.exit(2);
}
const listeners = new Map<string, Listener>();
let timeouts = { unreplied: 30_000, replied: 120_000 };

function say(msg: string): void {
  process.stdout.write(`${new Date().toISOString()} ${msg}\n`);
}

const keyOf = (r: ProxyRoute) => `${r.port}/${r.proto}`;

async function reload(): Promise<void> {
  const text = readFileSync(configPath!, 'utf8');
  const config = JSON.parse(text) as ProxyConfig;
  timeouts = config.udpTimeoutMs;
  const wanted = new Map(config.routes.map((r) => [keyOf(r), r]));
  for (const [key, l] of listeners) {
    const r = wanted.get(key);
    // A kept port keeps its listener and its connections; new ones go to the new target.
    if (r) l.route = r;
    else {
      l.close();
      listeners.delete(key);
    }
  }
  const failed: string[] = [];
  await Promise.all(
    config.routes
      .filter((r) => !listeners.has(keyOf(r)))
      .map(async (r) => {
        try {
          listeners.set(keyOf(r), await (r.proto === 'tcp' ? openTcp(config.listen, r) : openUdp(config.listen, r)));
        } catch (e) {
          failed.push(`[${config.listen}]:${keyOf(r)}: ${(e as Error).message}`);
        }
      }),
  );
  for (const f of failed) say(`cannot listen: ${f}`);
  const hash = createHash('sha256').update(text).digest('hex');
  writeFileSync(`${configPath}.loaded.tmp`, `${hash}\n${failed.join('\n')}`);
  renameSync(`${configPath}.loaded.tmp`, `${configPath}.loaded`);
  say(`loaded: ${listeners.size} of ${config.routes.length} ports`);
}

function openTcp(address: string, route: ProxyRoute): Promise<Listener> {
  const conns = new Set<net.Socket>();
  const l: Listener = {
    route,
    close: () => {
      server.close();
      for (const c of conns) c.destroy();
    },
  };
  // allowHalfOpen: a client that shuts down its sending side still gets the whole answer.
  const server = net.createServer({ allowHalfOpen: true }, (client) => splice(client, l.route, conns));
  return listening(server, l, (done) => server.listen({ host: address, port: route.port, ipv6Only: true }, done));
}

/** Joins a client to a new connection to the container; each side's end (FIN) is passed on, an error closes both. */
function splice(client: net.Socket, route: ProxyRoute, conns: Set<net.Socket>): void {
  const upstream = net.connect({ host: route.target, port: route.targetPort, allowHalfOpen: true });
  for (const s of [client, upstream]) conns.add(s);
  client.pipe(upstream);
  upstream.pipe(client);
  const drop = () => {
    client.destroy();
    upstream.destroy();
    conns.delete(client);
    conns.delete(upstream);
  };
  client.on('error', drop).on('close', drop);
  upstream.on('error', drop).on('close', drop);
}

function openUdp(address: string, route: ProxyRoute): Promise<Listener> {
  const flows = new Map<string, Flow>();
  const socket = dgram.createSocket({ type: 'udp6', ipv6Only: true });
  const l: Listener = {
    route,
    close: () => {
      socket.close();
      for (const f of flows.values()) endFlow(f);
    },
  };
  socket.on('message', (msg, from) => {
    const key = `[${from.address}]:${from.port}`;
    let flow = flows.get(key);
    if (!flow)
      flow = newFlow(
        l.route,
        (reply) => socket.send(reply, from.port, from.address),
        () => flows.delete(key),
      );
    flows.set(key, flow);
    flow.upstream.send(msg, l.route.targetPort, l.route.target);
    touch(flow, () => flows.delete(key));
  });
  return listening(socket, l, (done) => socket.bind({ port: route.port, address }, done));
}

/** One client's flow: its own socket toward the container, so that answers find their way back. */
function newFlow(route: ProxyRoute, reply: (msg: Buffer) => void, forget: () => void): Flow {
  const upstream = dgram.createSocket(net.isIPv6(route.target) ? 'udp6' : 'udp4');
  const flow: Flow = { upstream, replied: false };
  upstream.on('message', (msg) => {
    flow.replied = true;
    reply(msg);
    touch(flow, forget);
  });
  upstream.on('error', (e) => say(`udp flow to ${route.target}:${route.targetPort}: ${e.message}`));
  return flow;
}

/** Restarts the flow's idle timer: conntrack's short timeout until the container answered, the long one after. */
function touch(flow: Flow, forget: () => void): void {
  clearTimeout(flow.timer);
  flow.timer = setTimeout(
    () => {
      endFlow(flow);
      forget();
    },
    flow.replied ? timeouts.replied : timeouts.unreplied,
  );
  flow.timer.unref();
}

function endFlow(flow: Flow): void {
  clearTimeout(flow.timer);
  flow.upstream.close();
}

/** Resolves once the socket listens, rejects with the error that kept it from it. */
function listening(emitter: net.Server | dgram.Socket, l: Listener, start: (done: () => void) => void): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const fail = (e: Error) => reject(e);
    emitter.once('error', fail);
    start(() => {
      emitter.off('error', fail);
      emitter.on('error', (e: Error) => say(`[::1]:${keyOf(l.route)}: ${e.message}`));
      resolve(l);
    });
  });
}

let queue: Promise<void> = Promise.resolve();
const reloadQueued = () => {
  queue = queue.then(reload).catch((e: Error) => say(`reload failed: ${e.message}`));
};
process.on('SIGHUP', reloadQueued);
process.on('SIGTERM', () => {
  for (const l of listeners.values()) l.close();
  process.exit(0);
});
// Signal handlers do not keep Node running: a lab whose ports all failed still waits for a SIGHUP.
setInterval(() => undefined, 1 << 30);
reloadQueued();
