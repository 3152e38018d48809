/** Runs system programs with argument arrays (never a shell), timing each for the debug log. */
import { spawn } from 'node:child_process';
import { KernelError } from '../errors.js';
import { log } from '../log.js';

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * node's own child_process, not execa: execa's module loading and per-call work would be most
 * of a converged `up` (a handful of calls); docs/performance.md has the measurement.
 */
/** A program's standard input: a text, or one written from its pid (the program names itself in it). */
export type RunInput = string | ((pid: number) => string);

function spawnCollect(file: string, args: string[], input: RunInput | undefined): Promise<RunResult & { missing: boolean }> {
  return new Promise((resolve) => {
    // Its own process group: a terminal's Ctrl-C reaches netlab, which lets the command in hand finish.
    const child = spawn(file, args, { env: { ...process.env, LC_ALL: 'C' }, detached: true, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let missing = false;
    let spawnError: Error | undefined;
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') missing = true;
      spawnError = e;
    });
    if (input !== undefined) {
      child.stdin!.on('error', () => undefined); // a program that exits without reading all of it
      child.stdin!.end(typeof input === 'function' ? input(child.pid ?? 0) : input);
    }
    child.on('close', (code, signal) => {
      const stderr = Buffer.concat(err).toString() || (spawnError && !missing ? spawnError.message : '');
      resolve({ stdout: Buffer.concat(out).toString(), stderr, exitCode: spawnError ? 127 : (code ?? (signal ? 127 : 0)), missing });
    });
  });
}

export async function run(file: string, args: string[], opts: { input?: RunInput; allowFail?: boolean } = {}): Promise<RunResult> {
  const started = performance.now();
  const r = await spawnCollect(file, args, opts.input);
  const ms = Math.round((performance.now() - started) * 10) / 10;
  log().debug({ cmd: [file, ...args].join(' '), ms, exitCode: r.exitCode }, 'exec');
  if (r.exitCode !== 0 && !opts.allowFail) {
    const reason = r.missing ? `${file} is not installed (see "netlab doctor")` : String(r.stderr || r.stdout).trim();
    throw new KernelError(`${file} ${args.join(' ')}: ${reason}`, [file, ...args].join(' '));
  }
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
}

/** Runs up to `limit` tasks at a time. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
