/**
 * netlab's built-in web server, so the demo lab needs no Apache or nginx: a welcome page that
 * also shows what a student wants to see, the container's name and address and the client's
 * address as the container sees it (NAT keeps or hides it).
 */
import { createServer, type Server } from 'node:http';
import { hostname, networkInterfaces } from 'node:os';

export function welcomePage(clientAddress: string): string {
  const addrs = Object.entries(networkInterfaces())
    // Both families (`--bind ::` serves both), bar the link-local IPv6 address every interface has.
    .flatMap(([name, list]) => (list ?? []).filter((a) => !a.internal && !a.address.startsWith('fe80:')).map((a) => `${name} ${a.address}`))
    .join(', ');
  return [
    '<!DOCTYPE html>',
    '<html><head><meta charset="utf-8"><title>Welcome to netlab</title></head><body>',
    '<h1>Welcome to netlab!</h1>',
    `<p>This page is served by container <b>${escapeHtml(hostname())}</b> (${escapeHtml(addrs)}).</p>`,
    `<p>Your request came from <b>${escapeHtml(clientAddress)}</b>.</p>`,
    '</body></html>',
    '',
  ].join('\n');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

export function serve(port: number, bind = '0.0.0.0'): Promise<Server> {
  const server = createServer((req, res) => {
    const client = (req.socket.remoteAddress ?? '?').replace(/^::ffff:/, '');
    console.log(`${new Date().toISOString()} ${client} ${req.method} ${req.url}`);
    const body = req.url === '/whoami' ? `${client}\n` : welcomePage(client);
    res.writeHead(200, { 'content-type': req.url === '/whoami' ? 'text/plain' : 'text/html; charset=utf-8' });
    res.end(body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, bind, () => {
      console.log(`netlab serve: listening on ${bind}:${port}`);
      resolve(server);
    });
  });
}
