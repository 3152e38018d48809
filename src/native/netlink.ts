/**
 * One netlink socket for netlab: opened synchronously through libc (in a namespace when asked),
 * carrying dumps (read by kernel/nldump.ts) and batches of requests (encoded by the `netlink`
 * package in kernel/rtnetlink.ts). The headers and attributes here are the kernel's
 * (linux/netlink.h): a 16-byte nlmsghdr, then type-length-value attributes padded to 4 bytes.
 */
import { libc } from './libc.js';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
export const NETLINK_ROUTE = 0;
export const NETLINK_NETFILTER = 12;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const MSG_DONTWAIT = 0x40;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const HEADER = 16;
/** The kernel answers in parts of at most 32 KiB; one buffer serves every read. */
const MAX_SEND = 32 * 1024;
let rx: Buffer | undefined;
let seq = 1;

export class NetlinkSocket {
  private constructor(readonly fd: number) {}

  /** A socket of `protocol` in the calling thread's current network namespace. */
  static open(protocol = NETLINK_ROUTE): NetlinkSocket {
    return new NetlinkSocket(libc().socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol));
  }

  close(): void {
    libc().close(this.fd);
  }

  /**
   * Sends one dump request and calls `each(buf, start, end)` with the payload (after the header)
   * of every answer of type `answer`: bytes of the receive buffer, valid only during the call.
   */
  dump(type: number, body: Buffer, answer: number, each: (buf: Buffer, start: number, end: number) => void): void {
    const mySeq = seq++;
    const req = header(HEADER + body.length, type, NLM_F_REQUEST | NLM_F_DUMP, mySeq);
    body.copy(req, HEADER);
    this.sendAll(req, 'dump request');
    for (;;) {
      const n = this.receive(0, 'dump');
      const buf = rx!;
      for (let off = 0; off + HEADER <= n; ) {
        const len = buf.readUInt32LE(off);
        if (len < HEADER || off + len > n) throw new Error('netlink: a malformed message');
        if (buf.readUInt32LE(off + 8) === mySeq) {
          const t = buf.readUInt16LE(off + 4);
          if (t === NLMSG_DONE) return;
          if (t === NLMSG_ERROR) {
            const err = buf.readInt32LE(off + HEADER);
            if (err !== 0) throw new Error(`netlink dump: errno ${-err}`);
          } else if (t === answer) each(buf, off + HEADER, off + len);
        }
        off += (len + 3) & ~3;
      }
    }
  }

  /**
   * Sends complete request messages (each asking for an answer, sequence numbers 1..n) in sends
   * of at most 32 KiB and returns each one's errno (0: done). The kernel handles a request inside
   * the send, so its answer is there after it.
   */
  requestAll(messages: Buffer[]): number[] {
    const result: number[] = [];
    for (let i = 0; i < messages.length; ) {
      const from = i;
      let size = messages[i++]!.length;
      while (i < messages.length && size + messages[i]!.length <= MAX_SEND) size += messages[i++]!.length;
      this.sendAll(Buffer.concat(messages.slice(from, i)), 'request');
      while (result.length < i) {
        // Not waiting: an answer that is not there after the send will not come (a message the kernel could not parse).
        const n = this.receive(MSG_DONTWAIT, `answer to request ${result.length + 1} of ${messages.length}`);
        forEachMessage(rx!, n, (t, msgSeq, payload) => {
          if (t === NLMSG_ERROR && msgSeq === result.length + 1) result.push(-payload.readInt32LE(0));
        });
      }
    }
    return result;
  }

  private sendAll(buf: Buffer, what: string): void {
    if (libc().send(this.fd, buf, buf.length, 0) !== buf.length) throw new Error(`netlink ${what}: errno ${libc().errno()}`);
  }

  private receive(flags: number, what: string): number {
    rx ??= Buffer.alloc(256 * 1024);
    const n = libc().recv(this.fd, rx, rx.length, flags);
    if (n < 0) throw new Error(`netlink: no ${what} (errno ${libc().errno()})`);
    return n;
  }
}

function header(length: number, type: number, flags: number, msgSeq: number): Buffer {
  const b = Buffer.alloc(length);
  b.writeUInt32LE(length, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(msgSeq, 8);
  return b;
}

/** Calls `fn(type, seq, payload)` for each message in buf[0, n). */
export function forEachMessage(buf: Buffer, n: number, fn: (type: number, seq: number, payload: Buffer) => void): void {
  for (let off = 0; off + HEADER <= n; ) {
    const len = buf.readUInt32LE(off);
    if (len < HEADER || off + len > n) throw new Error('netlink: a malformed message');
    fn(buf.readUInt16LE(off + 4), buf.readUInt32LE(off + 8), buf.subarray(off + HEADER, off + len));
    off += (len + 3) & ~3;
  }
}

/**
 * Where each attribute of buf[from, to) is, by type: `at[type]` its start, `end[type]` its end,
 * -1 for a type that is absent (types from at.length on are passed over). One loop and no call
 * per attribute: a dump of hundreds of links visits tens of thousands.
 */
export function indexAttributes(buf: Buffer, from: number, to: number, at: Int32Array, end: Int32Array): void {
  at.fill(-1);
  for (let off = from; off + 4 <= to; ) {
    const len = buf[off]! | (buf[off + 1]! << 8);
    if (len < 4) break;
    const type = (buf[off + 2]! | (buf[off + 3]! << 8)) & 0x3fff;
    if (type < at.length) {
      at[type] = off + 4;
      end[type] = Math.min(off + len, to);
    }
    off += (len + 3) & ~3;
  }
}
