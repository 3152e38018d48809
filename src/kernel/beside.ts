/**
 * Work a second thread does while the main thread makes a lab's links (apply.ts): writing the
 * /etc files and, with the netlink backend, making the UTS namespaces. Neither touches a link,
 * and this machine kind has a second core. The files' contents travel as one transferred
 * buffer, not a structured clone (each /etc/hosts names every peer, so a large lab's files are
 * many megabytes): a text that many files share (the lab's peer list) is encoded once, and
 * each file is byte ranges.
 */
import { Worker } from 'node:worker_threads';
import { writeStamped, type FileToWrite } from './filewrite.js';
import { addUts, setUtsHostname } from './namespaces.js';

/** A container's UTS namespace to make (or, when one is mounted there already, to rename). */
export interface UtsToMake {
  path: string;
  hostname: string;
  mounted: boolean;
}

export interface BesideWork {
  files: FileToWrite[];
  uts: UtsToMake[];
}

/** What the thread did: a stamp per file written, and the first failure, which ended its work. */
export interface BesideDone {
  stamps: Record<string, string>;
  failure?: { what: 'file' | 'uts'; path: string; message: string; code?: string };
}

/**
 * The work as it crosses to the thread: the files' bytes in one buffer, and per file its path
 * and the byte ranges [start, end, start, end...] of the buffer that make its content.
 */
export interface PackedWork {
  blob: ArrayBuffer;
  files: [string, number[]][];
  uts: UtsToMake[];
}

export function pack(work: BesideWork): PackedWork {
  // Shared texts (a Map hashes a string once and keeps the hash in it): where each starts in the
  // buffer. Only ASCII ones: a slice's offsets count UTF-16 units, the buffer bytes.
  const shared = new Map<string, number>();
  const ascii = new Map<string, boolean>();
  const piecewise = (f: FileToWrite) =>
    f.pieces?.every((p) => {
      if (typeof p === 'string') return true;
      let ok = ascii.get(p.of);
      if (ok === undefined) ascii.set(p.of, (ok = Buffer.byteLength(p.of) === p.of.length));
      return ok;
    });
  const whole = work.files.map((f) => !piecewise(f));
  // Sized for the worst case (3 bytes per UTF-16 unit) rather than measured: measuring is a
  // second pass; the pages past the end are never touched.
  let room = 0;
  for (const [i, f] of work.files.entries()) {
    if (whole[i]) room += 3 * f.content.length;
    else for (const p of f.pieces!) room += typeof p === 'string' ? 3 * p.length : 0;
  }
  for (const [text, ok] of ascii) if (ok) room += text.length;
  // Its own ArrayBuffer (not a slice of Node's pool), so that it can be transferred.
  const blob = Buffer.allocUnsafeSlow(room);
  let at = 0;
  const put = (text: string) => {
    const start = at;
    at += blob.write(text, at);
    return start;
  };
  const files = work.files.map((f, i): [string, number[]] => {
    if (whole[i]) return [f.path, [put(f.content), at]];
    const ranges: number[] = [];
    for (const p of f.pieces!) {
      if (typeof p === 'string') ranges.push(put(p), at);
      else {
        let base = shared.get(p.of);
        if (base === undefined) shared.set(p.of, (base = put(p.of)));
        ranges.push(base + p.start, base + p.end);
      }
    }
    return [f.path, ranges];
  });
  return { blob: blob.buffer as ArrayBuffer, files, uts: work.uts };
}

/** A file's bytes from its ranges of the buffer: a view when there is one range, else a copy. */
function bytesOf(blob: Buffer, ranges: number[]): Buffer {
  if (ranges.length === 2) return blob.subarray(ranges[0], ranges[1]);
  const parts: Buffer[] = [];
  for (let k = 0; k < ranges.length; k += 2) parts.push(blob.subarray(ranges[k], ranges[k + 1]));
  return Buffer.concat(parts);
}

/** Does the work here, in order: the files, then the UTS namespaces; stops at the first failure. */
export function doWork(work: PackedWork): BesideDone {
  const blob = Buffer.from(work.blob);
  const stamps: Record<string, string> = {};
  const failed = (what: 'file' | 'uts', path: string, e: unknown): BesideDone => {
    const err = e as NodeJS.ErrnoException;
    return { stamps, failure: { what, path, message: err.message, code: err.code } };
  };
  for (const [path, ranges] of work.files) {
    try {
      const stamp = writeStamped(path, bytesOf(blob, ranges));
      if (stamp !== undefined) stamps[path] = stamp;
    } catch (e) {
      return failed('file', path, e);
    }
  }
  for (const u of work.uts) {
    try {
      if (u.mounted) setUtsHostname(u.path, u.hostname);
      else addUts(u.path, u.hostname);
    } catch (e) {
      return failed('uts', u.path, e);
    }
  }
  return { stamps };
}

/** The thread's module. Run from TypeScript source (the test runner), it is the build's JavaScript. */
const WORKER = new URL(import.meta.url.endsWith('.ts') ? '../../dist/kernel/beside-worker.js' : './beside-worker.js', import.meta.url);

/** doWork on a thread of its own. */
export function runBeside(work: BesideWork): Promise<BesideDone> {
  return new Promise((resolve, reject) => {
    const packed = pack(work);
    const worker = new Worker(WORKER, { workerData: packed, transferList: [packed.blob] });
    let result: BesideDone | undefined;
    worker.once('message', (m: BesideDone) => (result = m));
    worker.once('error', reject);
    worker.once('exit', (code) => (result ? resolve(result) : reject(new Error(`the thread beside the link step ended (code ${code}) before it reported`))));
  });
}
