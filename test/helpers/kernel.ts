/** Helpers for tests that use the real kernel: unique names, a LAN peer, HTTP with retries, the CLI. */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** A lab name no other test or user uses, starting with the run's id (see leak-check.ts). */
export function uniqueLab(): string {
  return `${process.env.NETLAB_TEST_RUN ?? 't'}${randomBytes(3).toString('hex')}`;
}

/** The id of a throwaway host (test-host-<id>), starting with the run's id so that the leak check judges it as this run's. */
export function testHostId(): string {
  return `${process.env.NETLAB_TEST_RUN ?? 't'}${randomBytes(2).toString('hex')}`;
}

/**
 * Runs the built CLI. `timeoutMs`: interrupted (Ctrl-C, then killed 5 s later) past it, so that a
 * hung run fails its test with its output and leaves the test time to take its lab down, instead
 * of the test timing out with the lab still up for every later test to trip on.
 */
export async function cli(args: string[], opts: { cwd?: string; reject?: boolean; timeoutMs?: number } = {}) {
  return execa(process.execPath, [CLI, ...args], {
    cwd: opts.cwd,
    reject: opts.reject ?? false,
    all: true,
    env: { NETLAB_LOG_LEVEL: 'warn' },
    ...(opts.timeoutMs ? { timeout: opts.timeoutMs, killSignal: 'SIGINT' as const } : {}),
  });
}

export async function sh(cmd: string, args: string[]) {
  return execa(cmd, args, { reject: false, all: true });
}

/** GET with retries until `ok` or the deadline: a freshly started server needs a moment. */
export async function httpGet(url: string, timeoutMs = 8000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1500) });
      return await r.text();
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 150));
    }
  }
  throw new Error(`GET ${url} failed: ${(last as Error)?.message}`);
}

/**
 * curl from inside a namespace; resolves to the body, or undefined when it fails within the
 * timeout. `retryMs` keeps trying for that long (a server just started); 0 tries once.
 */
export async function curlIn(ns: string, url: string, opts: { timeoutS?: number; retryMs?: number } = {}): Promise<string | undefined> {
  const deadline = Date.now() + (opts.retryMs ?? 0);
  for (;;) {
    const r = await execa('ip', ['netns', 'exec', ns, 'curl', '-s', '-m', String(opts.timeoutS ?? 3), url], { reject: false });
    if (r.exitCode === 0) return r.stdout;
    if (Date.now() >= deadline) return undefined;
    await new Promise((res) => setTimeout(res, 150));
  }
}

/**
 * Another machine on the host's LAN, simulated: a namespace joined to the host by a veth, on
 * TEST-NET-2 (198.51.100.0/24, reserved for documentation, so it collides with no real route).
 */
export async function withLanPeer<T>(fn: (peer: { ns: string; hostAddr: string; peerAddr: string }) => Promise<T>): Promise<T> {
  const id = randomBytes(2).toString('hex');
  const ns = `test-lan-${id}`;
  const hostIf = `tlan${id}`;
  const octet = 4 * (1 + (parseInt(id, 16) % 60));
  const hostAddr = `198.51.100.${octet + 1}`;
  const peerAddr = `198.51.100.${octet + 2}`;
  const run = async (...args: string[]) => {
    const r = await execa('ip', args, { reject: false, all: true });
    if (r.exitCode !== 0) throw new Error(`ip ${args.join(' ')}: ${r.all}`);
  };
  try {
    await run('netns', 'add', ns);
    await run('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    await run('addr', 'add', `${hostAddr}/30`, 'dev', hostIf);
    await run('link', 'set', hostIf, 'up');
    await run('-n', ns, 'addr', 'add', `${peerAddr}/30`, 'dev', 'eth0');
    await run('-n', ns, 'link', 'set', 'eth0', 'up');
    await run('-n', ns, 'link', 'set', 'lo', 'up');
    await run('-n', ns, 'route', 'add', 'default', 'via', hostAddr);
    return await fn({ ns, hostAddr, peerAddr });
  } finally {
    await execa('ip', ['link', 'del', hostIf], { reject: false });
    await execa('ip', ['netns', 'del', ns], { reject: false });
  }
}
