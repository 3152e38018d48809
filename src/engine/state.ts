/**
 * The lab's state file, /run/netlab/<lab>/state.json: what the kernel cannot tell back
 * (chosen subnets, addresses and host ports, pids, the names an interrupted `up` was about to
 * create). Written atomically, root-only.
 */
import { createHash } from 'node:crypto';
import { lstat, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { labDir, stateFile } from '../paths.js';
import { writeAtomic } from '../kernel/host.js';
import { existsSync, readFileSync } from 'node:fs';
import { buildId } from '../build.js';
import { fillHostsFiles, type Lab, type PreviousAllocation } from '../model/lab.js';
import type { Stamps } from '../kernel/stamps.js';
import { NetlabError } from '../errors.js';
import { log } from '../log.js';
import { ABSENT, ifErrno, onErrno } from '../kernel/errno.js';

export interface StateFile {
  version: 1;
  lab: string;
  /** The host whose share this is, in a multi-host lab. */
  host?: string;
  /** The topology file, or `<demo>`. */
  source: string;
  allocation: PreviousAllocation;
  planned: { netns: string[]; links: string[] };
  started: Record<string, { pid: number; specHash: string }>;
  /** The lab as last applied, for ps / inspect / exec. */
  resolved: Lab;
  /** Inode of the network namespace netlab ran in (the "host"); absent in files of older versions. */
  hostNetns?: number;
  /** Stamps of the lab's /etc files (kernel/stamps.ts): what the next `up` need not read again. */
  stamps?: Stamps;
  /** Whether the containers' /etc/hosts have IPv6 lines: the file leaves those texts out (see labJson). */
  hostsIpv6?: boolean;
  /** The build of the /etc file renderers that wrote the lab's files (see RENDERER). */
  renderer?: string;
  updatedAt: string;
}

/** This build of the modules that render /etc files: a new netlab never trusts an old run's stamps as its own. */
export const RENDERER = buildId(['./model/etcfiles.js', './model/lab.js', './model/lab6.js', './model/hostsfile.js', './plan/desired.js', './model/mounts.js']);

/**
 * The lab as the state file keeps it: without the /etc/hosts texts (nor their pieces), which follow from the rest
 * (fillHostsFiles) and would be nearly all of the file in a large lab (a line per container
 * in each container's file: 21 MB at 1000 containers, against 0.4 MB for everything else).
 */
export function labJson(lab: Lab): string {
  // A copy without them, not a replacer: a replacer is a call per value (thousands in a large lab), and would drop any key named `hosts` (an env variable's).
  const containers = lab.containers.map((c) => ({ ...c, files: { ...c.files, hosts: undefined }, hostsPieces: undefined }));
  return JSON.stringify({ ...lab, containers });
}

/**
 * The state's shape, as the text of its schema (stateschema.ts, which the compiler holds to the
 * types): a file stamped by a netlab with the same schema is read without checking it again,
 * whichever build or copy of netlab wrote it (another lab's state is read by every `up`).
 */
const STATE_SHAPE = (() => {
  for (const name of ['./stateschema.js', './stateschema.ts']) {
    try {
      return createHash('sha256')
        .update(readFileSync(new URL(name, import.meta.url)))
        .digest('hex');
    } catch (e) {
      // Built (dist/, .js) or run from the sources (.ts): one of the two is there.
      ifErrno(e, ABSENT, undefined);
    }
  }
  return 'unknown';
})();
const CHECK_LINE = /^\{\n {2}"check": "([0-9a-f]{64})",\n/;
const checkOf = (body: string) => createHash('sha256').update(STATE_SHAPE).update(body).digest('hex');

/** What reading a share's state found: the state (trusted: stamped by this build), none, or a broken file and what is wrong with it. */
export interface StateRead {
  path: string;
  state?: StateFile;
  trusted?: boolean;
  problem?: string;
  /** The lab as the file has it (labJson's text), when this build stamped it: what `up` compares the lab with, without writing it anew. */
  resolvedJson?: string;
}

const RESOLVED_LINE = '\n  "resolved": ';

/** The state's text. Its first line stamps the rest with this build, so the next read can trust it without loading the schema. */
export function stateText(s: StateFile, now = new Date()): string {
  const { resolved, ...rest } = s;
  // The lab on one line (it is most of the file); the rest indented for a reader.
  const head = JSON.stringify({ ...rest, check: undefined, updatedAt: now.toISOString() }, null, 2);
  const body = `${head.slice(0, -2)},${RESOLVED_LINE}${labJson(resolved)}\n}\n`;
  return `{\n  "check": "${checkOf(body)}",\n${body.slice(2)}`;
}

/** The state in a file's text, or what is wrong with it: checked by the schema unless this build stamped it. */
export async function parseStateText(text: string): Promise<Omit<StateRead, 'path'>> {
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    return { problem: `it is not JSON (${(e as Error).message})` };
  }
  const stamp = CHECK_LINE.exec(text);
  if (stamp && checkOf(`{\n${text.slice(stamp[0].length)}`) === stamp[1]) {
    delete data.check;
    // Stamped, it ends as stateText wrote it: the lab on its last line but one.
    const resolvedJson = text.slice(text.lastIndexOf(RESOLVED_LINE) + RESOLVED_LINE.length, -'\n}\n'.length);
    return { state: data as unknown as StateFile, trusted: true, resolvedJson };
  }
  if (data && typeof data === 'object' && 'version' in data && data.version !== 1)
    return { problem: `it is of another version of netlab (state version ${JSON.stringify(data.version)}; this netlab reads 1)` };
  const { checkState } = await import('./stateschema.js');
  const r = checkState(data);
  if (!r.ok) return { problem: `it is not a netlab state: ${r.problem}` };
  delete (r.state as Partial<{ check: unknown }>).check;
  return { state: r.state, trusted: false };
}

const IO_PROBLEMS: Record<string, string> = { EISDIR: 'it is a directory', ENOTDIR: 'a folder on its path is a file', EACCES: 'permission denied', EIO: 'an I/O error' };

/** The state of a lab's share as read; `hosts: false` leaves the /etc/hosts texts out (up and down do not need them). */
export async function loadState(lab: string, host?: string, opts: { hosts?: boolean } = {}): Promise<StateRead> {
  const path = stateFile(lab, host);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (code === 'ENOENT') return { path };
    return { path, problem: IO_PROBLEMS[code] ?? (e as Error).message };
  }
  const r = await parseStateText(text);
  if (r.state && !r.trusted) log().debug({ path }, 'state checked by its schema (not stamped by this one)');
  if (r.state && opts.hosts !== false && r.state.resolved.containers.some((c) => c.files.hosts === undefined))
    fillHostsFiles(r.state.resolved.containers, r.state.hostsIpv6 ?? existsSync('/proc/sys/net/ipv6'));
  return { path, ...r };
}

/** A broken state is as good as none: the lab is found by its marks in the kernel, and the next `up` writes a new one. */
export function warnBroken(r: StateRead): void {
  if (r.problem) log().warn(`the state file ${r.path} is unusable (${r.problem}): treated as lost; the lab is found by its marks in the kernel`);
}

/** The state of a lab's share, or undefined when there is none or it is broken (with a warning). */
export async function readState(lab: string, host?: string, opts: { hosts?: boolean } = {}): Promise<StateFile | undefined> {
  const r = await loadState(lab, host, opts);
  warnBroken(r);
  return r.state;
}

/** What each share of a lab on this machine has: the single-host state, or one per (simulated) host. */
export async function shareReads(lab: string, opts: { hosts?: boolean } = {}): Promise<StateRead[]> {
  const single = await loadState(lab, undefined, opts);
  if (single.state || single.problem) return [single];
  const hosts = await readdir(join(labDir(lab), 'hosts')).catch(onErrno(ABSENT, [] as string[]));
  const reads = await Promise.all(hosts.map((h) => loadState(lab, h, opts)));
  return reads.filter((r) => r.state || r.problem);
}

/** Every readable share of a lab on this machine (broken ones left out). */
export async function readShares(lab: string, opts: { hosts?: boolean } = {}): Promise<StateFile[]> {
  return (await shareReads(lab, opts)).flatMap((r) => (r.state ? [r.state] : []));
}

const WRITE_PROBLEMS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EROFS: 'the file system is read-only',
  EIO: 'an I/O error',
  EDQUOT: 'the disk quota is used up',
  EACCES: 'permission denied',
};

/** Why a file could not be written, in words. */
export const writeProblem = (e: unknown) => WRITE_PROBLEMS[(e as NodeJS.ErrnoException).code ?? ''] ?? (e as Error).message;

/** Writes the state atomically; a full or read-only disk is a clear error, and leaves no temporary file. */
export async function writeState(s: StateFile): Promise<void> {
  const path = stateFile(s.lab, s.host);
  try {
    // A directory where the file goes is a broken state (loadState said so): the new state replaces it.
    if ((await lstat(path).catch(onErrno(ABSENT, undefined)))?.isDirectory()) await rm(path, { recursive: true, force: true });
    await writeAtomic(path, stateText(s), 0o600);
  } catch (e) {
    throw new NetlabError(`cannot write the state of lab ${s.lab} to ${path}: ${writeProblem(e)}`);
  }
}
