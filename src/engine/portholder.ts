/** Names what holds a host port, for the message of a port conflict: the program and its pid. */
import { readdirSync, readFileSync } from 'node:fs';
import { listeningSockets } from './context.js';
import { PROXY_MARK, socketInodes } from '../proxy/lifecycle.js';

/** `a listening socket of python3 (pid 1234)`, or of a lab's IPv6 loopback proxy; the plain words when no process is found. */
export async function portHolder(port: string): Promise<string> {
  const inodes = new Set((await listeningSockets()).get(port) ?? []);
  if (inodes.size > 0) {
    for (const pid of readdirSync('/proc')
      .filter((e) => /^\d+$/.test(e))
      .map(Number)) {
      // A socket of the library's caller itself keeps the plain words: it knows its own sockets.
      if (pid === process.pid || !socketInodes(pid).some((i) => inodes.has(i))) continue;
      const proxyOf = markOf(pid);
      if (proxyOf) return `the IPv6 loopback proxy of lab ${proxyOf} (pid ${pid})`;
      return `a listening socket of ${readOr(`/proc/${pid}/comm`, '?').trim()} (pid ${pid})`;
    }
  }
  return 'a listening socket';
}

function markOf(pid: number): string | undefined {
  const env = readOr(`/proc/${pid}/environ`, '').split('\0');
  return env.find((e) => e.startsWith(`${PROXY_MARK}=`))?.slice(PROXY_MARK.length + 1);
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return fallback;
  }
}
