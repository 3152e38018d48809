/**
 * `netlab ui`: a small HTTP server for one user, on loopback unless told otherwise. It serves
 * the page's fixed files and a JSON API over the lab; a picture's counters and changes go out
 * as Server-Sent Events. Runs in the foreground until Ctrl-C; nothing of it stays behind.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { log } from '../log.js';
import { InputError } from '../errors.js';
import type { Selection } from './data.js';
import { apiRoute } from './api.js';
import { staticFile } from './static.js';
import { send } from './respond.js';

export interface UiOptions extends Selection {
  port: number;
  /** The address to bind: loopback unless `listen` says otherwise. */
  address: string;
  /** Given with --listen: the user asked for this address knowingly. */
  listen: boolean;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** Refuses a bind address that is not loopback unless it came with --listen. */
export function checkBindAddress(address: string, listen: boolean): void {
  if (address !== 'localhost' && isIP(address) === 0) throw new InputError([{ path: listen ? '--listen' : '--address', message: `"${address}" is not an IP address` }]);
  if (LOOPBACK.test(address)) return;
  if (!listen) {
    throw new InputError([{ path: '--address', message: `refusing to serve on ${address}: the page shows logs and runs traces with this process's rights; use --listen ${address} to mean it` }]);
  }
  log().warn(`serving on ${address}: anyone who reaches this address can read the lab's logs and run traces`);
}

export async function startUi(o: UiOptions): Promise<{ server: Server; url: string }> {
  checkBindAddress(o.address, o.listen);
  const server = createServer((req, res) => void handle(req, res, o));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.address, resolve);
  });
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : o.port;
  const host = o.address.includes(':') ? `[${o.address}]` : o.address;
  return { server, url: `http://${host}:${port}/` };
}

async function handle(req: IncomingMessage, res: ServerResponse, sel: Selection): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://ui.invalid');
  try {
    if (url.pathname.startsWith('/api/')) return await apiRoute(req, res, url, sel);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
    const file = await staticFile(url.pathname);
    if (!file) return send(res, 404, 'text/plain', 'not found\n');
    send(res, 200, file.type, file.body);
  } catch (e) {
    const status = e instanceof InputError ? 400 : 500;
    if (status === 500) log().warn({ err: (e as Error).message, path: url.pathname }, 'ui request failed');
    if (!res.headersSent) send(res, status, 'application/json', JSON.stringify({ error: (e as Error).message }));
    else res.end();
  }
}
