/** The containers' side of a lab as observe() reads it: /etc files, UTS and mount namespaces, processes. */
import { basename, join } from 'node:path';
import { readdirSync, type Dirent } from 'node:fs';
import { netnsName, netnsPrefix } from '../model/names.js';
import { containersDir, ctrDir, ETC_NETNS_DIR, labDir } from '../paths.js';
import type { KernelBackend } from './backend.js';
import { listDir, listEntries } from './host.js';
import { mountedMnt, readMntHash } from './mnt.js';
import { monitorPid, readMonitorState } from './monitor.js';
import type { ObserveHints, Reading } from './observe-input.js';
import { pidsByNamespace, specMark } from './processes.js';
import { readStamped, type Stamps } from './stamps.js';
import { mountedUts } from './uts.js';

/**
 * /etc files of the lab's own namespaces, and of the namespaces it wants or last planned that
 * are gone (the folder of a namespace that exists but is not the lab's is never touched). Each
 * file is stat'ed, and read only when its stamp moved since the last run (stamps.ts). Returns the stamps now.
 */
export async function readEtcFiles(r: Reading, nsNames: string[], hints: ObserveHints): Promise<Stamps> {
  const named = new Set(nsNames);
  // The lab's: its namespaces, and the empty files an interrupted add left under its names (observe.ts claims them).
  const claimed = new Set([...Object.keys(r.s.namespaces), ...(r.s.unboundNetns ?? [])]);
  const dirs: string[] = [];
  for (const e of await listEntries(ETC_NETNS_DIR)) {
    if (!claimed.has(e.name) && (named.has(e.name) || !(r.want.namespaces[e.name] || r.planned.netns.has(e.name)))) continue;
    if (e.isDirectory()) dirs.push(e.name);
    else r.foreign.push(`${join(ETC_NETNS_DIR, e.name)} (${e.isSymbolicLink() ? 'a symbolic link' : 'not a folder'} where netlab keeps its own folder)`);
  }
  if (dirs.length > 0) r.s.etcDirs = dirs.map((dir) => join(ETC_NETNS_DIR, dir));
  const stamps: Stamps = {};
  for (const dir of dirs) readEtcDir(r, join(ETC_NETNS_DIR, dir), hints, stamps);
  return stamps;
}

/** The files of one /etc/netns folder; a symbolic link among them is foreign. */
function readEtcDir(r: Reading, dir: string, hints: ObserveHints, stamps: Stamps): void {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isSymbolicLink()) {
      r.foreign.push(`${path} (a symbolic link where netlab keeps its own file)`);
      continue;
    }
    // A regular file the lab does not want goes whatever it holds: the folder's entry tells enough.
    if (r.want.files[path] === undefined && e.isFile()) {
      r.s.files[path] = '';
      continue;
    }
    const got = readStamped(path, r.want.files[path], hints.stamps?.[path], !!hints.sameWant);
    if (got.text !== undefined) r.s.files[path] = got.text;
    if (got.stamp !== undefined) stamps[path] = got.stamp;
  }
}

/** This share's containers (found, wanted, or planned), or undefined for every one on a single host. */
export function containersOfShare(r: Reading): Set<string> | undefined {
  if (r.host === undefined) return undefined;
  return new Set([...Object.keys(r.s.namespaces), ...Object.keys(r.want.namespaces), ...r.planned.netns].map((ns) => ns.slice(netnsPrefix(r.lab).length)));
}

/** UTS namespaces of this share's containers only: other hosts of a simulated lab keep theirs in the same folder. */
export async function readUtsNamespaces(r: Reading, mine: Set<string> | undefined, backend: KernelBackend): Promise<void> {
  for (const path of mountedUts(join(labDir(r.lab), 'uts'))) {
    if (mine && !mine.has(basename(path))) continue;
    // One the lab does not want goes whatever its hostname.
    if (r.want.uts[path] === undefined) {
      r.s.uts[path] = '';
      continue;
    }
    const h = await backend.readUts(path);
    if (h !== undefined) r.s.uts[path] = h;
  }
}

/** Mount namespaces of this share's containers; the hash of their mounts only for those the lab wants. */
export async function readMntNamespaces(r: Reading, mine: Set<string> | undefined): Promise<void> {
  for (const path of mountedMnt(join(labDir(r.lab), 'mnt'))) {
    if (mine && !mine.has(basename(path))) continue;
    r.s.mnts[path] = { ns: '', hash: r.want.mnts[path] ? readMntHash(path) : '' };
  }
}

/**
 * Each container's command: the lab's while its monitor runs it (or waits to restart it). The
 * monitor is found by its pid file and /proc, and carries the spec hash it was started with; a
 * command without one (its monitor killed) is started anew under a new one.
 */
export async function readProcesses(r: Reading): Promise<void> {
  const { lab, want, s } = r;
  const { inside: pids, strays, nested } = await pidsByNamespace(Object.keys(s.namespaces), { lab, host: r.host });
  // A container that never ran a command has no folder, hence no monitor: one listing, not a failed open each.
  const withFolder = new Set(await listDir(containersDir(lab)));
  for (const [ns, list] of pids) {
    const name = ns.slice(netnsPrefix(lab).length);
    const w = want.processes[name];
    const dir = ctrDir(lab, name);
    const monitor = withFolder.has(name) ? monitorPid(dir) : undefined;
    if (list.length === 0 && !w && !monitor) continue;
    const state = monitor ? readMonitorState(dir) : undefined;
    const running = monitor !== undefined && state?.Status !== 'exited';
    const specHash = (monitor ? specMark(monitor) : undefined) ?? r.started[name]?.specHash;
    s.processes[name] = { running, pids: list, pid: monitor, monitor, specHash, ns, uts: w?.uts ?? '', mnt: w?.mnt ?? '', dir: w?.dir ?? '', log: w?.log ?? '' };
  }
  for (const [name, list] of strays) (s.processes[name] ??= { running: false, pids: [], ns: netnsName(lab, name), uts: '', mnt: '', dir: '', log: '' }).strays = list;
  for (const [name, list] of nested) if (s.processes[name]) s.processes[name].nested = list;
}
