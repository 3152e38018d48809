/**
 * Writing a lab's /etc files: each atomically (a reader sees the old file or the new one), and
 * stamped as it is written (kernel/stamps.ts), so that no pass reads them back. The files that
 * follow a link step are written on another thread meanwhile (beside.ts).
 */
import { writeOwnAtomic } from './ownfs.js';
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
  writeOwnAtomic(path, content);
  const key = statKey(path);
  return key === undefined ? undefined : `${key}:${contentHash(content)}`;
}
