/**
 * The lab's embedded DNS server, a process of the lab (as aardvark-dns is netavark's): it
 * listens at 127.0.0.11:53, UDP and TCP, inside the network namespace of every container of a
 * user-defined network, and answers each with that container's view of the lab.
 *
 *   node dist/dns/server.js <config.json>
 *
 * SIGHUP re-reads the config: sockets for namespaces that went are closed, new (or recreated)
 * namespaces get theirs, and `<config>.loaded` then holds the config's hash and, a line each, the
 * namespaces it could not serve (not there yet). SIGTERM stops it.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EMBEDDED_DNS } from '../model/etcfiles.js';
import { bindInNamespace } from '../kernel/nssocket.js';
import { answer, answerer, type Answerer } from './answer.js';
import type { DnsView, ResolverConfig } from './records.js';

const NETNS_DIR = '/run/netns';

interface Listener {
  ino: number;
  view: DnsView;
  udp: dgram.Socket;
  tcp: net.Server;
  /** Open TCP connections: closed with the listener, or they would keep a removed namespace alive. */
  conns: Set<net.Socket>;
}

const configPath = process.argv[2];
if (!configPath) {
  process.stderr.write('usage: server.js <config.json>\n');
  process.exit(2);
}
const listeners = new Map<string, Listener>();
let current: Answerer | undefined;

function say(msg: string): void {
  process.stdout.write(`${new Date().toISOString()} ${msg}\n`);
}

function reload(): void {
  const t0 = performance.now();
  const text = readFileSync(configPath!, 'utf8');
  const config = JSON.parse(text) as ResolverConfig;
  current = answerer(config);
  const views = new Map(config.views.map((v) => [v.ns, v]));
  for (const [ns, l] of listeners) {
    const ino = statSync(join(NETNS_DIR, ns), { throwIfNoEntry: false })?.ino;
    if (views.has(ns) && ino === l.ino) l.view = views.get(ns)!;
    else close(ns, l);
  }
  for (const view of config.views) if (!listeners.has(view.ns)) open(view);
  const hash = createHash('sha256').update(text).digest('hex');
  // The namespaces it could not serve yet: up tells it to try again once they exist.
  const missing = config.views.filter((v) => !listeners.has(v.ns)).map((v) => v.ns);
  writeFileSync(`${configPath}.loaded.tmp`, `${hash}\n${missing.join('\n')}`);
  renameSync(`${configPath}.loaded.tmp`, `${configPath}.loaded`);
  say(`loaded: ${listeners.size} of ${config.views.length} namespaces (${Math.round(performance.now() - t0)} ms)`);
}

function close(ns: string, l: Listener): void {
  l.udp.close();
  l.tcp.close();
  for (const c of l.conns) c.destroy();
  listeners.delete(ns);
}

function open(view: DnsView): void {
  const path = join(NETNS_DIR, view.ns);
  // Not made yet (the resolver starts while up builds the lab): the next SIGHUP opens it.
  const ino = statSync(path, { throwIfNoEntry: false })?.ino;
  if (ino === undefined) return;
  try {
    const fds = bindInNamespace(path, EMBEDDED_DNS, 53);
    const l: Listener = { ino, view, udp: dgram.createSocket('udp4'), tcp: net.createServer((c) => serveTcp(l, c)), conns: new Set() };
    l.udp.on('message', (msg, from) => void serveUdp(l, msg, from));
    l.udp.on('error', (e) => say(`${view.ns} udp: ${e.message}`));
    l.tcp.on('error', (e) => say(`${view.ns} tcp: ${e.message}`));
    l.udp.bind({ fd: fds.udp });
    l.tcp.listen({ fd: fds.tcp });
    listeners.set(view.ns, l);
  } catch (e) {
    say(`${view.ns}: cannot listen: ${(e as Error).message}`);
  }
}

async function serveUdp(l: Listener, msg: Buffer, from: dgram.RemoteInfo): Promise<void> {
  const out = current && (await answer(current, l.view, msg));
  // UDP answers over 512 bytes would need EDNS or truncation; the lab's answers are small.
  if (out && listeners.get(l.view.ns) === l) l.udp.send(out, from.port, from.address);
}

/** DNS over TCP: each message has a two-byte length before it (RFC 1035 4.2.2). */
function serveTcp(l: Listener, conn: net.Socket): void {
  let buf = Buffer.alloc(0);
  l.conns.add(conn);
  conn.on('close', () => l.conns.delete(conn));
  conn.setTimeout(10_000, () => conn.destroy());
  conn.on('error', () => conn.destroy());
  conn.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
      buf = buf.subarray(2 + msg.length);
      void (async () => {
        const out = current && (await answer(current, l.view, msg));
        if (!out || conn.destroyed) return;
        const len = Buffer.alloc(2);
        len.writeUInt16BE(out.length);
        conn.write(Buffer.concat([len, out]));
      })();
    }
  });
}

process.on('SIGHUP', () => {
  try {
    reload();
  } catch (e) {
    say(`reload failed: ${(e as Error).message}`);
  }
});
process.on('SIGTERM', () => {
  for (const [ns, l] of listeners) close(ns, l);
  process.exit(0);
});
// Signal handlers do not keep Node running: with no socket open yet (started while up builds
// the lab) the process would end before the SIGHUP that gives it its namespaces.
setInterval(() => undefined, 1 << 30);
reload();
