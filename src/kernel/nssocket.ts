/**
 * Sockets bound inside another network namespace, for the lab's DNS resolver: the calling
 * thread enters the namespace (setns), creates and binds the socket, and returns, all
 * synchronously, so Node never runs anything else meanwhile. Node then adopts the descriptor
 * (dgram's bind({fd}), net's listen({fd})): one process serves every container, as Docker's
 * daemon does with its embedded DNS.
 */
import { createRequire } from 'node:module';
import { closeSync, openSync } from 'node:fs';
import { CLONE_NEWNET, libc, LibcError } from './libc.js';

const AF_INET = 2;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;

interface SocketCalls {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  listen(fd: number, backlog: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, len: number): number;
  close(fd: number): number;
}

let calls: SocketCalls | undefined;
let errnoOf: () => number = () => 0;

function socketCalls(): SocketCalls {
  if (calls) return calls;
  const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  const lib = koffi.load('libc.so.6');
  errnoOf = () => koffi.errno();
  calls = {
    socket: lib.func('int socket(int domain, int type, int protocol)'),
    bind: lib.func('int bind(int fd, const void *addr, uint32_t len)'),
    listen: lib.func('int listen(int fd, int backlog)'),
    setsockopt: lib.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)'),
    close: lib.func('int close(int fd)'),
  } as SocketCalls;
  return calls;
}

function sockaddrIn(ip: string, port: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(AF_INET, 0);
  b.writeUInt16BE(port, 2);
  ip.split('.').forEach((octet, i) => b.writeUInt8(Number(octet), 4 + i));
  return b;
}

/** A bound UDP socket and a listening TCP socket on ip:port inside the namespace at `nsPath`. */
export function bindInNamespace(nsPath: string, ip: string, port: number): { udp: number; tcp: number } {
  const c = socketCalls();
  const home = openSync('/proc/thread-self/ns/net', 'r');
  const target = openSync(nsPath, 'r');
  const made: number[] = [];
  try {
    libc().setns(target, CLONE_NEWNET);
    try {
      const open = (type: number) => {
        const fd = c.socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) throw new LibcError('socket', errnoOf(), 'socket');
        made.push(fd);
        const one = Buffer.alloc(4);
        one.writeInt32LE(1);
        if (type === SOCK_STREAM) c.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, one, 4);
        if (c.bind(fd, sockaddrIn(ip, port), 16) < 0) throw new LibcError(`bind ${ip}:${port}`, errnoOf(), `errno ${errnoOf()}`);
        if (type === SOCK_STREAM && c.listen(fd, 128) < 0) throw new LibcError('listen', errnoOf(), `errno ${errnoOf()}`);
        return fd;
      };
      const udp = open(SOCK_DGRAM);
      const tcp = open(SOCK_STREAM);
      return { udp, tcp };
    } finally {
      libc().setns(home, CLONE_NEWNET);
    }
  } catch (e) {
    for (const fd of made) c.close(fd);
    throw e;
  } finally {
    closeSync(target);
    closeSync(home);
  }
}
