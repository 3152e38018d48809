/**
 * Stamps of the per-container /etc files: inode, size, and modification and change times (to
 * a fraction of a microsecond), with a hash of the content that had them. A converged `up` stats each file and
 * reads only those whose stamp moved: any write (in place, or a new file renamed over it, as
 * editors and netlab itself do) changes the change time, which no user can set back.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync } from 'node:fs';
import { ABSENT, ifErrno } from './errno.js';

export type Stamps = Record<string, string>;

/** Of the text, or of its UTF-8 bytes (the same hash). */
export const contentHash = (text: string | Uint8Array) => createHash('sha1').update(text).digest('base64').slice(0, 22);

/** `ino:size:mtime:ctime` of a file, or undefined when it is not a regular file (a symbolic link is not followed). */
export function statKey(path: string): string | undefined {
  // Times as doubles of milliseconds keep sub-microsecond detail (bigint stats cost more).
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st?.isFile()) return undefined;
  return `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/**
 * The content of `path` as far as netlab can tell: `want` itself when the file still has the
 * stamp it had when it last held what was wanted then, and what is wanted now is the same (the
 * lab did not change: `sameWant`, else its hash is compared); otherwise the file as read. Also
 * returns the stamp to keep: only for a file that holds `want`, so that every stamp kept is one
 * of a file that held what its run wanted (and none when the file changed while it was read).
 */
export function readStamped(path: string, want: string | undefined, prev: string | undefined, sameWant = false): { text?: string; stamp?: string } {
  const key = statKey(path);
  if (key === undefined) return {};
  // A file the lab does not want goes whatever it holds (file.del): no need to read it.
  if (want === undefined) return { text: '' };
  if (prev !== undefined) {
    const cut = prev.lastIndexOf(':');
    if (prev.slice(0, cut) === key && (sameWant || prev.slice(cut + 1) === contentHash(want))) return { text: want, stamp: prev };
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    // Not written yet, or its folder is not: either way the file is to be written.
    return ifErrno(e, [...ABSENT, 'ENOTDIR'], {});
  }
  return { text, stamp: text === want && statKey(path) === key ? `${key}:${contentHash(text)}` : undefined };
}
