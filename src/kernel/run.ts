/** Runs system programs with argument arrays (never a shell), timing each for the debug log. */
import { execa } from 'execa';
import { KernelError } from '../errors.js';
import { log } from '../log.js';

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export async function run(file: string, args: string[], opts: { input?: string; allowFail?: boolean } = {}): Promise<RunResult> {
  const started = performance.now();
  // Its own process group: a terminal's Ctrl-C reaches netlab, which lets the command in hand finish.
  const r = await execa(file, args, { input: opts.input, reject: false, stripFinalNewline: false, env: { LC_ALL: 'C' }, detached: true });
  const ms = Math.round((performance.now() - started) * 10) / 10;
  const exitCode = r.exitCode ?? (r.failed ? 127 : 0);
  log().debug({ cmd: [file, ...args].join(' '), ms, exitCode }, 'exec');
  if (exitCode !== 0 && !opts.allowFail) {
    const reason = r.code === 'ENOENT' ? `${file} is not installed (see "netlab doctor")` : String(r.stderr || r.stdout).trim();
    throw new KernelError(`${file} ${args.join(' ')}: ${reason}`, [file, ...args].join(' '));
  }
  return { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode };
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
