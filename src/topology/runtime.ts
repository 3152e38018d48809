/**
 * A container's runtime keys, in Docker's words: `tmpfs` (--tmpfs), `volumes` (-v), `user`
 * (--user), `workdir` (--workdir) and `restart` (--restart). Host paths are checked where the
 * lab is brought up (checkHostPaths), as a cached parse may be older than the host.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, normalize, resolve } from 'node:path';
import type { PathSegment } from './yamlpos.js';
import type { InputProblem } from '../errors.js';
import { parseHealth, type HealthCheck, type RawHealth } from './health.js';

export interface TmpfsMount {
  target: string;
  /** mount(8) options, e.g. `size=16m,mode=755`. */
  options: string;
  at?: { path: string; line?: number };
}

export interface VolumeMount {
  /** Absolute host path (a relative one is taken from the topology file's folder). */
  source: string;
  target: string;
  readOnly: boolean;
  /** The host path is a file (not a folder): its mount point is a file, made after the container's tmpfs mounts where missing. */
  file?: boolean;
  /** Where it is written, for the error when the host path is missing. */
  at: { path: string; line?: number };
}

export type RestartPolicy = { policy: 'no' | 'always' | 'unless-stopped' } | { policy: 'on-failure'; maxRetries: number };

export interface ContainerRuntime {
  tmpfs: TmpfsMount[];
  volumes: VolumeMount[];
  user?: string;
  workdir?: string;
  restart: RestartPolicy;
  /** Docker's HEALTHCHECK, run by the container's monitor. */
  health?: HealthCheck;
}

/** What every container gets besides its own `tmpfs`: a private /run (so /var/run too on Debian), /tmp and /var/tmp. */
export const DEFAULT_TMPFS: TmpfsMount[] = [
  { target: '/run', options: 'mode=755,nosuid,nodev' },
  { target: '/tmp', options: 'mode=1777,nosuid,nodev' },
  { target: '/var/tmp', options: 'mode=1777,nosuid,nodev' },
];

export interface RawRuntime {
  tmpfs?: string[];
  volumes?: string[];
  user?: string | number;
  workdir?: string;
  restart?: string;
  healthcheck?: RawHealth;
}

type Problem = (path: PathSegment[], message: string) => void;
type Where = (path: PathSegment[]) => { path: string; line?: number };

const PATH_OK = /^\/[^\0:,\n'"\\]*$/;

/** The generic mount options (mount(8)) and tmpfs's own (tmpfs(5)) with the form of their values, as `docker run --tmpfs` takes them. */
const TMPFS_FLAGS = new Set('ro rw suid nosuid dev nodev exec noexec sync async dirsync atime noatime diratime nodiratime relatime norelatime strictatime lazytime defaults'.split(' '));
const TMPFS_VALUES: Record<string, RegExp> = {
  size: /^\d+[kmgKMG%]?$/,
  nr_blocks: /^\d+[kmgKMG]?$/,
  nr_inodes: /^\d+[kmgKMG]?$/,
  mode: /^[0-7]{1,4}$/,
  uid: /^\d+$/,
  gid: /^\d+$/,
  huge: /^(never|always|within_size|advise)$/,
};
const TMPFS_KNOWN = `${[...TMPFS_FLAGS].slice(0, 8).join(', ')}, ..., ${Object.keys(TMPFS_VALUES)
  .map((k) => `${k}=`)
  .join(', ')}`;

/** The first option that tmpfs would refuse at mount time (an unknown word, or a value of the wrong form). */
function unknownTmpfsOption(options: string): string | undefined {
  return options
    .split(',')
    .filter(Boolean)
    .find((o) => {
      const [key = '', value] = o.split('=', 2) as [string, string | undefined];
      return value === undefined ? !TMPFS_FLAGS.has(key) && key !== 'noswap' : !(Object.hasOwn(TMPFS_VALUES, key) && TMPFS_VALUES[key]!.test(value));
    });
}

/** Parses the runtime keys of one container; `dir` is the topology file's folder. */
export function parseRuntime(raw: RawRuntime, at: (...p: PathSegment[]) => PathSegment[], problem: Problem, where: Where, dir: string): ContainerRuntime {
  const tmpfs: TmpfsMount[] = [];
  (raw.tmpfs ?? []).forEach((spec, i) => {
    const [target = '', ...opts] = spec.split(':');
    const options = opts.join(':');
    if (!PATH_OK.test(target)) problem(at('tmpfs', i), `"${spec}": the target must be an absolute path (then ":" and mount options, e.g. /var/cache/nginx:size=16m)`);
    else if (!/^[A-Za-z0-9_=,.+-]*$/.test(options)) problem(at('tmpfs', i), `"${options}" are not tmpfs mount options (e.g. size=16m,mode=1777)`);
    else if (unknownTmpfsOption(options)) problem(at('tmpfs', i), `"${unknownTmpfsOption(options)}" is not a tmpfs mount option (known: ${TMPFS_KNOWN})`);
    else tmpfs.push({ target: normalize(target), options: options || 'mode=1777,nosuid,nodev', at: where(at('tmpfs', i)) });
  });
  const volumes: VolumeMount[] = [];
  (raw.volumes ?? []).forEach((spec, i) => {
    const parts = spec.split(':');
    const [src = '', target = '', mode] = parts;
    if (parts.length < 2 || parts.length > 3 || !src)
      problem(at('volumes', i), `"${spec}" is not HOST:CONTAINER[:ro|rw] (a named volume is not supported: give a host path, ./relative to the topology file)`);
    else if (!PATH_OK.test(target)) problem(at('volumes', i), `"${target}": the container path must be absolute`);
    else if (mode !== undefined && mode !== 'ro' && mode !== 'rw') problem(at('volumes', i), `"${mode}": the mode must be ro or rw`);
    else if (!src.startsWith('/') && !src.startsWith('.'))
      problem(at('volumes', i), `"${src}" looks like a named volume; netlab binds host paths only (./${src} for a folder beside the topology file)`);
    else {
      const source = isAbsolute(src) ? normalize(src) : resolve(dir, src);
      if (!PATH_OK.test(source)) problem(at('volumes', i), `host path "${source}" has characters netlab does not pass to mount`);
      else volumes.push({ source, target: normalize(target), readOnly: mode === 'ro', file: existsSync(source) && !isDir(source), at: where(at('volumes', i)) });
    }
  });
  const user = raw.user === undefined ? undefined : String(raw.user);
  if (user !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/.test(user)) problem(at('user'), `"${user}" is not a user (name or uid, optionally :group or :gid)`);
  else if (user !== undefined && lookupUser(user) === undefined) problem(at('user'), `no user "${user.split(':')[0]}" in this host's /etc/passwd (containers share the host's users)`);
  if (raw.workdir !== undefined && !PATH_OK.test(raw.workdir)) problem(at('workdir'), `"${raw.workdir}" must be an absolute path`);
  const health = parseHealth(raw.healthcheck, at, problem);
  return {
    tmpfs,
    volumes,
    user,
    workdir: raw.workdir && normalize(raw.workdir),
    ...(health ? { health } : {}),
    restart: parseRestart(raw.restart, () => problem(at('restart'), `"${raw.restart}" is not a restart policy (no, always, unless-stopped, on-failure[:N])`)),
  };
}

export function parseRestart(text: string | undefined, bad: () => void): RestartPolicy {
  if (text === undefined || text === 'no') return { policy: 'no' };
  if (text === 'always' || text === 'unless-stopped') return { policy: text };
  const m = /^on-failure(?::(\d{1,6}))?$/.exec(text);
  if (m) return { policy: 'on-failure', maxRetries: m[1] ? Number(m[1]) : 0 };
  bad();
  return { policy: 'no' };
}

/** uid, gid and home of `user` (`name`, `uid`, `name:group`, `uid:gid`) from the host's files, or undefined if unknown. */
export function lookupUser(user: string): { uid: number; gid: number; home: string; name?: string } | undefined {
  const [u = '', g] = user.split(':');
  const passwd = readLines('/etc/passwd').map((l) => l.split(':'));
  const entry = passwd.find((f) => f[0] === u) ?? (/^\d+$/.test(u) ? passwd.find((f) => f[2] === u) : undefined);
  if (!entry && !/^\d+$/.test(u)) return undefined;
  let gid = entry ? Number(entry[3]) : Number(u);
  if (g !== undefined) {
    const group = readLines('/etc/group')
      .map((l) => l.split(':'))
      .find((f) => f[0] === g);
    if (group) gid = Number(group[2]);
    else if (/^\d+$/.test(g)) gid = Number(g);
    else return undefined;
  }
  return { uid: entry ? Number(entry[2]) : Number(u), gid, home: entry?.[5] || '/', name: entry?.[0] };
}

function readLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
  } catch {
    return [];
  }
}

/**
 * The host paths a lab's mounts need, as problems: a volume's host path that is missing, or a
 * target folder that is neither on the host nor under one of the container's tmpfs mounts
 * (netlab makes folders only inside its own tmpfs, never in the host's file system).
 */
export function hostPathProblems(containers: { name: string; runtime?: ContainerRuntime }[]): InputProblem[] {
  const problems: InputProblem[] = [];
  for (const c of containers) {
    if (!c.runtime) continue;
    const tmpfs = [...DEFAULT_TMPFS, ...c.runtime.tmpfs].map((t) => t.target);
    const underTmpfs = (p: string) => tmpfs.some((t) => p !== t && p.startsWith(t === '/' ? t : `${t}/`));
    for (const v of c.runtime.volumes) {
      if (!existsSync(v.source)) problems.push({ ...v.at, message: `host path ${v.source} does not exist` });
      else if (!underTmpfs(v.target) && !sameKind(v.source, v.target))
        problems.push({ ...v.at, message: `${v.target} must exist on the host as a ${isDir(v.source) ? 'folder' : 'file'} (netlab makes mount points only inside the container's tmpfs mounts)` });
    }
    for (const t of c.runtime.tmpfs) {
      if (!underTmpfs(t.target) && !isDir(t.target))
        problems.push({ path: `containers.${c.name}.tmpfs`, ...t.at, message: `${t.target} must be a folder on the host, or under another tmpfs of the container` });
    }
  }
  return problems;
}

const isDir = (p: string) => statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
const sameKind = (a: string, b: string) => existsSync(b) && isDir(a) === isDir(b);

/** The folder a topology's relative volume paths start from. */
export const topologyDir = (path: string) => join(path, '..');
