/**
 * Sockets bound inside another network namespace, for the lab's DNS resolver: the calling
 * thread enters the namespace (setns), creates and binds the socket, and returns, all
 * synchronously, so Node never runs anything else meanwhile. Node then adopts the descriptor
 * (dgram's bind({fd}), net's listen({fd})): one process serves every container, as Docker's
 * daemon does with its embedded DNS.
 */
import { closeSync, openSync } from 'node:fs';
import { CLONE_NEWNET, libc } from '../native/libc.js';

const AF_INET = 2;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;

function sockaddrIn(ip: string, port: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(AF_INET, 0);
  b.writeUInt16BE(port, 2);
  for (const [i, octet] of ip.split('.').entries()) b.writeUInt8(Number(octet), 4 + i);
  return b;
}

/** A bound UDP socket and a listening TCP socket on ip:port inside the namespace at `nsPath`. */
export function bindInNamespace(nsPath: string, ip: string, port: number): { udp: number; tcp: number } {
  const c = libc();
  const home = openSync('/proc/thread-self/ns/net', 'r');
  const target = openSync(nsPath, 'r');
  const made: number[] = [];
  const open = (type: number) => {
    const fd = c.socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    made.push(fd);
    if (type === SOCK_STREAM) c.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, Buffer.from([1, 0, 0, 0]));
    c.bind(fd, sockaddrIn(ip, port));
    if (type === SOCK_STREAM) c.listen(fd, 128);
    return fd;
  };
  try {
    c.setns(target, CLONE_NEWNET);
    try {
      return { udp: open(SOCK_DGRAM), tcp: open(SOCK_STREAM) };
    } finally {
      c.setns(home, CLONE_NEWNET);
    }
  } catch (e) {
    for (const fd of made) c.close(fd);
    throw e;
  } finally {
    closeSync(target);
    closeSync(home);
  }
}
