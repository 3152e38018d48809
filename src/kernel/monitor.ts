/**
 * A container's monitor (assets/monitor.sh): started by `up` for each command, it runs the
 * command, holds its log, records its state in the container's folder and applies the restart
 * policy. netlab finds it by the pid file beside that state, checked against /proc.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { NETNS_DIR, timesPath } from '../paths.js';
import type { ProcessMark, ProcessSpec } from '../plan/state.js';
import { MONITOR_SCRIPT, killMonitor } from './monitorproc.js';
import { containerArgv, HOST_PATH, hostProgramEnv, markEnv, SPEC_MARK } from './processes.js';
import { run } from './run.js';
import { KernelError } from '../errors.js';
import { log } from '../log.js';
import { LibcError, libc } from '../native/libc.js';
import { ABSENT, GONE, ifErrno } from './errno.js';

/** docker inspect's State, as the monitor records it. */
export interface MonitorState {
  Status: 'running' | 'exited' | 'restarting';
  Pid: number;
  ExitCode: number;
  StartedAt: string;
  FinishedAt: string;
  RestartCount: number;
}

const pidFile = (dir: string) => join(dir, 'monitor.pid');
/** Written by `netlab stop`: the command was stopped on purpose, no restart. */
export const stoppedFlag = (dir: string) => join(dir, 'stopped');

/** The argv of a container's monitor: the script, its folder, the restart policy, then the command in the container's namespaces. */
export function monitorArgv(dir: string, ns: string, uts: string, mnt: string, spec: ProcessSpec, specHash: string, mark: ProcessMark): string[] {
  const policy = spec.restart?.policy ?? 'no';
  const h = spec.health;
  const times = h ? [h.intervalMs / 1000, h.timeoutMs / 1000, h.retries, h.startPeriodMs / 1000].join(':') : '';
  return [
    '/bin/sh',
    MONITOR_SCRIPT,
    dir,
    policy,
    String(spec.restart?.maxRetries ?? 0),
    join(NETNS_DIR, ns),
    h?.shell ?? '',
    times,
    ...containerArgv(ns, uts, mnt, [...spec.env, [SPEC_MARK, specHash], ...markEnv(mark)], spec.argv, spec),
  ];
}

export interface MonitorStart {
  dir: string;
  ns: string;
  uts: string;
  mnt: string;
  log: string;
  spec: ProcessSpec;
  specHash: string;
  /** The lab, container and host share the command carries (processMark); not the monitor, which is no stray of the lab. */
  mark: ProcessMark;
}

/** The monitor's folder made ready for a fresh start: no stop flag, state or health of a run before; its output pipe. */
function prepareStart(m: MonitorStart): { argv: string[]; env: Record<string, string> } {
  mkdirSync(dirname(m.log), { recursive: true, mode: 0o755 });
  mkdirSync(m.dir, { recursive: true, mode: 0o755 });
  rmSync(stoppedFlag(m.dir), { force: true });
  rmSync(join(m.dir, 'state'), { force: true });
  rmSync(join(m.dir, 'health'), { force: true });
  makeOutputPipe(m.dir);
  const argv = monitorArgv(m.dir, m.ns, m.uts, m.mnt, m.spec, m.specHash, m.mark);
  return { argv, env: hostProgramEnv({ [SPEC_MARK]: m.specHash, NETLAB_MONITOR_STARTED: startedNow() }) };
}

function started(m: MonitorStart, pid: number): number {
  writeFileSync(pidFile(m.dir), `${pid}\n`, { mode: 0o644 });
  log().debug({ ns: m.ns, monitor: pid, argv: m.spec.argv }, 'started');
  return pid;
}

/** Starts the monitor, detached, its output in the log; returns its pid. */
export function startMonitor(m: MonitorStart): number {
  const { argv, env } = prepareStart(m);
  const fd = openSync(m.log, 'a', 0o640);
  const times = openSync(timesPath(m.log), 'a', 0o640);
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', fd, fd, times], env, cwd: '/' });
  closeSync(fd);
  closeSync(times);
  child.unref();
  return started(m, child.pid ?? 0);
}

/**
 * Starts many monitors from one process (assets/launch.pl, a fork each), as startMonitor would
 * one by one; `onStarted` gets each pid as it comes. Without perl, one by one from here.
 */
export async function startMonitors(list: MonitorStart[], onStarted: (m: MonitorStart, pid: number) => void): Promise<void> {
  if (list.length === 1 || !hasPerl()) {
    for (const m of list) onStarted(m, startMonitor(m));
    return;
  }
  const input = list
    .map((m) => {
      const { argv, env } = prepareStart(m);
      const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
      return [m.log, timesPath(m.log), String(vars.length), ...vars, String(argv.length), ...argv].map((f) => `${f}\0`).join('');
    })
    .join('');
  const r = await run('perl', [LAUNCH_SCRIPT], { input, allowFail: true });
  const pids = r.stdout.split('\n').filter(Boolean).map(Number);
  for (const [i, pid] of pids.entries()) onStarted(list[i]!, started(list[i]!, pid));
  if (r.exitCode !== 0 || pids.length !== list.length)
    throw new KernelError(`starting the monitor of ${list[pids.length]?.ns ?? 'a container'}: ${r.stderr.trim() || `perl exited with ${r.exitCode}`}`, `perl ${LAUNCH_SCRIPT}`);
}

const LAUNCH_SCRIPT = fileURLToPath(new URL('../../assets/launch.pl', import.meta.url));
let perl: boolean | undefined;
/** Perl is Debian's (perl-base is essential); elsewhere it may be missing. */
const hasPerl = () => (perl ??= HOST_PATH.split(':').some((d) => existsSync(join(d, 'perl'))));

/** Docker's StartedAt (RFC 3339, nanoseconds, UTC) and the epoch second, for the monitor's first start. */
export function startedNow(ms = performance.timeOrigin + performance.now()): string {
  const micros = Math.floor((ms % 1000) * 1000);
  return `${new Date(Math.floor(ms)).toISOString().slice(0, 19)}.${String(micros).padStart(6, '0')}000Z ${Math.floor(ms / 1000)}`;
}

/** The monitor's output pipe to its log stamper, made here (the monitor makes it only where libc is not to be had). */
function makeOutputPipe(dir: string): void {
  const out = join(dir, 'out');
  rmSync(out, { force: true });
  try {
    libc().mkfifo(out, 0o600);
  } catch (e) {
    if (!(e instanceof LibcError)) log().debug({ reason: (e as Error).message.split('\n')[0] }, 'no libc: the monitor makes its pipe');
    else throw e;
  }
}

/** The pid of the container's monitor when it runs (its pid file, and /proc says it is this very monitor). */
export function monitorPid(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile(dir), 'utf8'));
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv[1] === MONITOR_SCRIPT && argv[2] === dir ? pid : undefined;
  } catch (e) {
    // No pid file yet, or the monitor has exited.
    return ifErrno(e, GONE, undefined);
  }
}

/** docker inspect's State.Health, as the monitor records it (undefined without a healthcheck). */
export function readHealth(dir: string): { Status: 'starting' | 'healthy' | 'unhealthy'; FailingStreak: number } | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'health'), 'utf8'));
  } catch (e) {
    // The monitor writes it by rename: absent, never half-written.
    return ifErrno(e, ABSENT, undefined);
  }
}

export function readMonitorState(dir: string): MonitorState | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'state'), 'utf8')) as MonitorState;
  } catch (e) {
    // The monitor replaces it by rename, but writes its first in place: empty for a moment, as if not yet written.
    if (e instanceof SyntaxError) return undefined;
    return ifErrno(e, ABSENT, undefined);
  }
}

export { MONITOR_SCRIPT, killMonitor };
