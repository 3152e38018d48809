/**
 * A throwaway "host" for tests that need a whole host of their own: a network namespace
 * `test-host-<id>` in which netlab runs as if it were the machine (its bridges, iptables and
 * nftables rules, sysctls, ip_local_port_range), plus a LAN neighbour joined to it by a veth.
 *
 * netlab runs there through `nsenter --net`, not `ip netns exec`: the latter also gives the
 * command a private mount namespace, so the container namespaces netlab creates (bind mounts
 * in /run/netns) would not be visible outside it. It keeps its state (and its lock) in a run
 * folder of its own, as another machine would: labs on the real host neither see its labs nor
 * make it wait.
 */
import { execa } from 'execa';
import { afterAll } from 'vitest';
import { fileURLToPath } from 'node:url';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, testHostId } from './kernel.js';
import { mountsUnder } from './temp-leaks.js';
import { removeTempDir, tempDir } from './tmp.js';

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
/** The command that runs the test servers in a container: `tcp:80 udp:53 ...`. */
export const servers = (...specs: string[]) => JSON.stringify([process.execPath, `${FIXTURES}servers.mjs`, ...specs]);

export interface VirtualHost {
  ns: string;
  /** The LAN neighbour's namespace and the two ends' addresses (IPv6 ones with `{ ipv6: true }`). */
  lan: { ns: string; hostAddr: string; peerAddr: string; hostAddr6?: string; peerAddr6?: string };
  /** Runs netlab in the virtual host. */
  netlab(args: string[]): Promise<{ exitCode: number; all: string; stdout: string }>;
  /** Runs a program in the virtual host. */
  run(args: string[], input?: string): Promise<{ exitCode: number; all: string; stdout: string }>;
  /** Runs a program in another namespace (a container's, the LAN peer's). */
  runIn(ns: string, args: string[]): Promise<{ exitCode: number; all: string; stdout: string }>;
  /** Writes the topology to a file and runs `netlab up` for it as lab `lab`. */
  up(lab: string, yaml: string): Promise<{ exitCode: number; all: string; stdout: string }>;
  /** The file `up` wrote lab `lab`'s topology to (in a temp folder removed with the host). */
  labFile(lab: string): string;
  /** Labs brought up here, taken down at the end. */
  labs: Set<string>;
}

const result = (r: { exitCode?: number; all?: unknown; stdout?: unknown }) => ({ exitCode: r.exitCode ?? 1, all: String(r.all ?? ''), stdout: String(r.stdout ?? '') });

/**
 * `lanIndex` (0-63) picks the LAN link's /30 in 10.101.254.0/24, so tests never share one.
 * Everything is removed at the end, also when the test fails. `ipv6`: the LAN link carries
 * IPv6 too, in fd32:ff:<lanIndex>::/64, and the neighbour routes IPv6 through the host.
 */
export async function withVirtualHost<T>(lanIndex: number, fn: (h: VirtualHost) => Promise<T>, opts: { ipv6?: boolean } = {}): Promise<T> {
  const id = testHostId();
  const ns = `test-host-${id}`;
  const lanNs = `test-lan-${id}`;
  const hostIf = `tl${id}`;
  const hostAddr = `10.101.254.${lanIndex * 4 + 1}`;
  const peerAddr = `10.101.254.${lanIndex * 4 + 2}`;
  const must = async (file: string, args: string[]) => {
    const r = await execa(file, args, { reject: false, all: true });
    if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')}: ${r.all}`);
  };
  const inHost = ['nsenter', `--net=/run/netns/${ns}`];
  const runDir = `/run/netlab-${ns}`;
  const files = tempDir('vhost');
  const h: VirtualHost = {
    ns,
    lan: { ns: lanNs, hostAddr, peerAddr, ...(opts.ipv6 ? { hostAddr6: `fd32:ff:${lanIndex}::1`, peerAddr6: `fd32:ff:${lanIndex}::2` } : {}) },
    labs: new Set(),
    netlab: async (args) => {
      const lab = args[args.indexOf('--lab') + 1];
      if (args.includes('--lab') && lab) h.labs.add(lab);
      return result(await execa(inHost[0]!, [...inHost.slice(1), process.execPath, CLI, ...args], { reject: false, all: true, env: { NETLAB_LOG_LEVEL: 'warn', NETLAB_RUN_DIR: runDir } }));
    },
    up: async (lab, yaml) => {
      writeFileSync(h.labFile(lab), yaml);
      return h.netlab(['up', '-f', h.labFile(lab), '--lab', lab]);
    },
    labFile: (lab) => join(files, `${lab}.yaml`),
    run: async (args, input) => result(await execa(inHost[0]!, [...inHost.slice(1), ...args], { reject: false, all: true, input })),
    runIn: async (other, args) => result(await execa('ip', ['netns', 'exec', other, ...args], { reject: false, all: true })),
  };
  const close = closer(h, runDir, files);
  try {
    await must('ip', ['netns', 'add', ns]);
    await must('ip', ['netns', 'add', lanNs]);
    await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await must('ip', ['-n', lanNs, 'link', 'set', 'lo', 'up']);
    // Random host ports come from here, inside the test's range.
    await must('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_local_port_range=19400 19499']);
    await must('ip', ['link', 'add', hostIf, 'netns', ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', lanNs]);
    await must('ip', ['-n', ns, 'addr', 'add', `${hostAddr}/30`, 'dev', hostIf]);
    await must('ip', ['-n', ns, 'link', 'set', hostIf, 'up']);
    await must('ip', ['-n', lanNs, 'addr', 'add', `${peerAddr}/30`, 'dev', 'eth0']);
    await must('ip', ['-n', lanNs, 'link', 'set', 'eth0', 'up']);
    await must('ip', ['-n', lanNs, 'route', 'add', 'default', 'via', hostAddr]);
    if (h.lan.hostAddr6 && h.lan.peerAddr6) {
      await must('ip', ['-n', ns, 'addr', 'add', `${h.lan.hostAddr6}/64`, 'dev', hostIf, 'nodad']);
      await must('ip', ['-n', lanNs, 'addr', 'add', `${h.lan.peerAddr6}/64`, 'dev', 'eth0', 'nodad']);
      await must('ip', ['-n', lanNs, '-6', 'route', 'add', 'default', 'via', h.lan.hostAddr6]);
    }
    return await fn(h);
  } finally {
    await close();
  }
}

/** The virtual hosts of this test file not yet removed: a test that timed out still has its own. */
const open = new Set<() => Promise<void>>();
// Its labs go while the host is still there to run their `down` (vitest stops a file's worker once its hooks are done).
afterAll(async () => {
  for (const close of [...open]) await close();
});

/**
 * Removes a virtual host: its labs (`down` inside it, so before the host namespace goes), then the
 * namespaces, its run folder and its lab files. A mount `down` left there (a lab's mount or UTS
 * namespace, which would keep the network namespaces it saw alive) is unmounted, and reported as a failure.
 */
function closer(h: VirtualHost, runDir: string, files: string): () => Promise<void> {
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      for (const lab of h.labs) await h.netlab(['down', '--lab', lab]);
      await execa('ip', ['netns', 'del', h.lan.ns], { reject: false });
      await execa('ip', ['netns', 'del', h.ns], { reject: false });
      const left = mountsUnder(runDir);
      for (const target of left.reverse()) await execa('umount', ['-l', target], { reject: false });
      rmSync(runDir, { recursive: true, force: true });
      removeTempDir(files);
      open.delete(close);
      if (left.length > 0) throw new Error(`netlab down left mounts in ${runDir} (now unmounted):\n  ${left.join('\n  ')}`);
    })());
  open.add(close);
  return close;
}

/** curl from namespace `ns` of the virtual host (its own when undefined); the body, or undefined when it fails within the retries. */
export async function curlVia(h: VirtualHost, ns: string | undefined, url: string, opts: { timeoutS?: number; retryMs?: number } = {}): Promise<string | undefined> {
  const deadline = Date.now() + (opts.retryMs ?? 0);
  for (;;) {
    const args = ['curl', '-s', '-m', String(opts.timeoutS ?? 2), url];
    const r = ns ? await h.runIn(ns, args) : await h.run(args);
    if (r.exitCode === 0) return r.stdout.trim();
    if (Date.now() >= deadline) return undefined;
    await new Promise((res) => setTimeout(res, 200));
  }
}
