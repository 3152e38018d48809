/**
 * `netlab logs`: a container's raw log, each line with its time from the times file beside it
 * (assets/stamp.pl), printed and followed as `docker logs` does. A log written by an older
 * netlab's monitor has no times file: its lines print with Docker's zero time.
 */
import { open } from 'node:fs/promises';
import { NetlabError } from '../errors.js';
import { logPath, timesPath } from '../paths.js';
import { parseStamps, renderLines, splitLines, type LogSelection, type Stamp } from '../model/logtime.js';
import { requireContainer } from './query.js';

/** Where a reader of the log and of its times file stands. */
interface Cursor {
  log: number;
  times: number;
  stamps: Stamp[];
  /** The bytes read so far end inside a line. */
  midLine: boolean;
}

/** The bytes of `file` from `from` to its end (none when it does not exist); `size` < `from` means the file started anew. */
async function readFrom(file: string, from: number): Promise<{ bytes: Buffer; size: number }> {
  const fh = await open(file, 'r').catch(() => undefined);
  if (!fh) return { bytes: Buffer.alloc(0), size: 0 };
  try {
    const { size } = await fh.stat();
    if (size <= from) return { bytes: Buffer.alloc(0), size };
    const bytes = Buffer.alloc(size - from);
    const { bytesRead } = await fh.read(bytes, 0, bytes.length, from);
    return { bytes: bytes.subarray(0, bytesRead), size: from + bytesRead };
  } finally {
    await fh.close();
  }
}

/**
 * What the log got since `c`, rendered for `s`; `c` moves on. The times are read after the log:
 * the stamper writes a chunk's time before the chunk, so every byte read has its time.
 */
async function readMore(log: string, c: Cursor, s: LogSelection): Promise<Buffer> {
  let more = await readFrom(log, c.log);
  if (more.size < c.log) {
    Object.assign(c, { log: 0, midLine: false }); // the log started anew
    more = await readFrom(log, 0);
  }
  const times = await readFrom(timesPath(log), c.times);
  if (times.size < c.times) Object.assign(c, { times: 0, stamps: [] });
  const text = times.bytes.toString('latin1');
  const whole = text.slice(0, text.lastIndexOf('\n') + 1); // a line the stamper is still writing waits
  c.times += whole.length;
  c.stamps.push(...parseStamps(whole));
  const lines = splitLines(more.bytes, c.log, c.stamps, c.midLine);
  c.log += more.bytes.length;
  if (more.bytes.length > 0) c.midLine = more.bytes[more.bytes.length - 1] !== 10;
  return renderLines(lines, s);
}

/**
 * docker logs [-t] [--since] [--until] [--tail] [-f]: writes the log's lines as selected, then,
 * with `follow`, what comes, until `signal` aborts (default: Ctrl-C) or the time passes --until.
 */
export async function printLogs(lab: string, name: string, s: LogSelection & { follow?: boolean }, write: (b: Buffer) => void, signal?: AbortSignal): Promise<void> {
  const { container } = await requireContainer(lab, name);
  if (container.command === undefined) throw new NetlabError(`container "${name}" has no command, so no log: its "command:" key would start one`);
  const log = logPath(lab, name);
  const c: Cursor = { log: 0, times: 0, stamps: [], midLine: false };
  write(await readMore(log, c, s));
  if (!s.follow) return;
  let stop = signal?.aborted ?? false;
  const onStop = () => (stop = true);
  signal?.addEventListener('abort', onStop);
  if (!signal) process.once('SIGINT', onStop);
  try {
    const next = { ...s, tail: undefined };
    while (!stop && (s.untilUs === undefined || Date.now() * 1000 <= s.untilUs)) {
      await new Promise((r) => setTimeout(r, 100));
      const b = await readMore(log, c, next);
      if (b.length > 0) write(b);
    }
  } finally {
    process.off('SIGINT', onStop);
  }
}
