/**
 * netlab's own files and folders (/run/netlab/<lab>/..., /etc/netns/<ns>/...), made without
 * following a symbolic link: a link planted where netlab keeps its own file or folder would
 * have it write through it, or remove what is behind it. Such a link is refused, naming it.
 */
import { closeSync, constants, lstatSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConflictError } from '../errors.js';
import { ETC_NETNS_DIR, RUN_DIR } from '../paths.js';

/** A symbolic link (or another kind of file) where netlab keeps its own file or folder. */
export class NotOwnPathError extends ConflictError {
  constructor(
    readonly path: string,
    what: 'file' | 'folder',
  ) {
    super(
      `${path} is ${what === 'folder' ? 'not a folder' : 'not a regular file'} (a symbolic link?) where netlab keeps its own ${what}; netlab neither writes through it nor removes it: remove it yourself and run again`,
    );
  }
}

/** Folders whose parents netlab trusts as they are (root's own): below them, every folder is checked. */
const roots = () => [dirname(RUN_DIR), dirname(ETC_NETNS_DIR)];
/** Trusted roots made (or found) in this process: each once, not once per file. */
const made = new Set<string>();

/**
 * `mkdir -p` that refuses a symbolic link (or anything else but a folder) at each step below
 * the trusted root it starts from: an lstat a step, as many calls as `mkdir -p` makes.
 */
export function ownDir(path: string, mode = 0o755): void {
  const root = roots().find((r) => path === r || path.startsWith(r === '/' ? r : `${r}/`));
  if (root === undefined || path === root) {
    if (!made.has(path)) mkdirSync(path, { recursive: true, mode });
    if (root !== undefined) made.add(path);
    return;
  }
  ownDir(dirname(path), mode);
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) {
    try {
      mkdirSync(path, { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    ownDir(path, mode);
    return;
  }
  if (!st.isDirectory()) throw new NotOwnPathError(path, 'folder');
}

/** Opens netlab's own file (flags as numbers) in its own folder, never through a symbolic link. */
export function openOwn(path: string, flags: number, mode = 0o644): number {
  ownDir(dirname(path));
  return openNoFollow(path, flags, mode);
}

function openNoFollow(path: string, flags: number, mode: number): number {
  try {
    return openSync(path, flags | constants.O_NOFOLLOW, mode);
  } catch (e) {
    throw refusedLink(path, e);
  }
}

/** O_NOFOLLOW's ELOOP: a symbolic link where netlab keeps its own file. */
const refusedLink = (path: string, e: unknown) => ((e as NodeJS.ErrnoException).code === 'ELOOP' ? new NotOwnPathError(path, 'file') : e);

/** Writes netlab's own file whole, on libuv's threads, never through a symbolic link (its folder checked by the caller, ownDir). */
export async function writeOwnAsync(path: string, content: string, mode = 0o644): Promise<void> {
  const file = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, mode).catch((e: unknown) => {
    throw refusedLink(path, e);
  });
  try {
    if (content) await file.writeFile(content);
  } finally {
    await file.close();
  }
}

/** Writes all of `content` to `fd` (a write may take only part of it). */
export function writeAll(fd: number, content: string | Uint8Array): void {
  const data = typeof content === 'string' ? Buffer.from(content) : content;
  for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
}

/**
 * Writes `path` atomically: a new temporary file beside it (never one that exists: a regular
 * one left by an interrupted run is removed first, a symbolic link is refused), renamed over it.
 */
export function writeOwnAtomic(path: string, content: string | Uint8Array, mode = 0o644, dirMode = 0o755): void {
  const tmp = `${path}.netlab-tmp`;
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;
  ownDir(dirname(path), dirMode);
  let fd: number;
  try {
    fd = openNoFollow(tmp, flags, mode);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    if (!lstatSync(tmp).isFile()) throw new NotOwnPathError(tmp, 'file');
    unlinkSync(tmp);
    fd = openNoFollow(tmp, flags, mode);
  }
  let written = false;
  try {
    writeAll(fd, content);
    written = true;
  } finally {
    closeSync(fd);
    // A full disk leaves a part of the file: it goes, the old file stays.
    if (!written) unlinkSync(tmp);
  }
  try {
    renameSync(tmp, path);
  } catch (e) {
    unlinkSync(tmp);
    throw e;
  }
}

/**
 * What is wrong with `path` where netlab keeps its own `what`, when something else is there
 * (a symbolic link above all), for the list of objects netlab leaves alone; undefined when it
 * is absent or of the right kind.
 */
export function notOwn(path: string, what: 'file' | 'folder'): string | undefined {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st || (what === 'folder' ? st.isDirectory() : st.isFile())) return undefined;
  return `${path} (${st.isSymbolicLink() ? 'a symbolic link' : `not a ${what === 'folder' ? 'folder' : 'regular file'}`} where netlab keeps its own ${what})`;
}
