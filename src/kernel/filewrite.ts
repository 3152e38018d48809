/**
 * Writing a lab's /etc files: each atomically (a reader sees the old file or the new one), and
 * stamped as it is written (kernel/stamps.ts), so that no pass reads them back. The files that
 * follow a link step are written on another thread meanwhile (beside.ts).
 */
import { closeSync, constants, lstatSync } from 'node:fs';
import { ETC_NETNS_DIR } from '../paths.js';
import { openOwn, writeAll, writeOwnAtomic } from './ownfs.js';
import { contentHash, statKey } from './stamps.js';
import type { TextPiece } from '../model/etcfiles.js';

export interface FileToWrite {
  path: string;
  content: string;
  /** The same content as pieces (etcfiles.ts), when it is mostly slices of a text other files share. */
  pieces?: TextPiece[];
}

/**
 * Writes the file and returns its stamp. Stamped by a stat right after the rename: a write by
 * someone else in between (the lab's lock keeps netlab out) would be taken for netlab's own.
 */
export function writeStamped(path: string, content: string | Uint8Array): string | undefined {
  if (!rewriteBound(path, content)) writeOwnAtomic(path, content);
  const key = statKey(path);
  return key === undefined ? undefined : `${key}:${contentHash(content)}`;
}

/**
 * A container's /etc files are bind-mounted into its mount namespace, which keeps the inode it
 * bound: an existing one is rewritten in place (as Docker rewrites its /etc/hosts), or the
 * container would go on seeing the old text after a rename. False when there is none yet.
 */
function rewriteBound(path: string, content: string | Uint8Array): boolean {
  if (!path.startsWith(`${ETC_NETNS_DIR}/`)) return false;
  if (!lstatSync(path, { throwIfNoEntry: false })?.isFile()) return false;
  const fd = openOwn(path, constants.O_WRONLY | constants.O_TRUNC);
  try {
    writeAll(fd, content);
  } finally {
    closeSync(fd);
  }
  return true;
}
