/**
 * Runs once around the kernel tests: refuses to start without root, and at the end fails the
 * run if anything named netlab appeared in the kernel, or in the temp folders, that was not there before.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, existsSync, readFileSync } from 'node:fs';
import { markedProcesses } from './marks.js';
import { runId } from './run-id.js';
import { tempLeftovers } from './temp-leaks.js';

export function netlabObjects(): string[] {
  const out: string[] = [];
  const sh = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' });
    } catch {
      return '';
    }
  };
  for (const ns of existsSync('/run/netns') ? readdirSync('/run/netns') : []) if (ns.startsWith('netlab-')) out.push(`netns ${ns}`);
  for (const l of JSON.parse(sh('ip', ['-j', '-d', 'link', 'show']) || '[]') as { ifname: string; ifalias?: string }[]) {
    if (l.ifalias?.startsWith('netlab:')) out.push(`link ${l.ifname} (${l.ifalias})`);
  }
  for (const program of ['iptables', 'ip6tables']) {
    for (const t of ['nat', 'filter', 'raw']) {
      for (const line of sh(`${program}-save`, ['-t', t]).split('\n')) if (/netlab|^:NL-|-A NL-/.test(line)) out.push(`${program} ${t}: ${line}`);
    }
  }
  if (sh('nft', ['list', 'tables']).includes('netlab')) out.push('nft table netlab');
  // A trace's temporary table and `outside` namespace carry the lab's name (src/trace/marks.ts).
  for (const line of sh('nft', ['list', 'tables']).split('\n')) if (line.includes('nltrace-')) out.push(`nft ${line.trim()}`);
  for (const ns of existsSync('/run/netns') ? readdirSync('/run/netns') : []) if (ns.startsWith('nltrace-')) out.push(`netns ${ns}`);
  for (const d of existsSync('/etc/netns') ? readdirSync('/etc/netns') : []) if (d.startsWith('netlab-')) out.push(`/etc/netns/${d}`);
  for (const d of existsSync('/run/netlab') ? readdirSync('/run/netlab') : []) if (!d.startsWith('.')) out.push(`/run/netlab/${d}`);
  // A throwaway host's namespaces and run folder (helpers/vhost.ts, testhost.ts): its labs' folders are in there.
  for (const ns of existsSync('/run/netns') ? readdirSync('/run/netns') : []) if (/^test-(host|lan)-/.test(ns)) out.push(`netns ${ns}`);
  for (const d of readdirSync('/run')) if (d.startsWith('netlab-test-host-')) out.push(`/run/${d}`);
  // Mount and UTS namespaces bound under a lab's folder (of this host or of a throwaway one), and the
  // folder of its mount namespaces. Such a mount keeps the network namespaces it saw alive, even
  // after their names in /run/netns are gone.
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const target = line.split(' ')[4];
    if (target?.startsWith('/run/netlab/') || target?.startsWith('/run/netlab-test-host-')) out.push(`mount ${target}`);
  }
  out.push(...resolverProcesses());
  // Temp files and folders only by this run's id in their names: other runs' are theirs to judge.
  out.push(...tempLeftovers(runId()));
  return out;
}

/** The labs' DNS resolvers and IPv6 loopback proxies still running, by the mark in their environment. */
function resolverProcesses(): string[] {
  return [
    ...markedProcesses('NETLAB_DNS').map((m) => `DNS resolver NETLAB_DNS=${m.value} (pid ${m.pid})`),
    ...markedProcesses('NETLAB_PROXY6').map((m) => `IPv6 loopback proxy NETLAB_PROXY6=${m.value} (pid ${m.pid})`),
  ];
}

let before = new Set<string>();

/**
 * Lab names and throwaway hosts of this run start with its id (see uniqueLab, testHostId), so that
 * a run judges only its own objects even while another run shares the machine; the demo lab's
 * objects are judged too.
 */
const RUN_ID = runId();
const ours = (o: string) => o.includes(RUN_ID) || isDemoLabs(o);

/**
 * Whether an object is the demo lab's (lab "demo": namespaces netlab-demo-web and -client, bridge
 * netlab0), and not that of a lab whose name only contains "demo" ("demo2", "mydemo", "demo-x").
 */
export function isDemoLabs(o: string): boolean {
  return /(^|[^\w-])(netlab-demo-(web|client)|netlab:demo|NETLAB_DNS=demo|\/run\/netlab\/demo)(?![\w.-])|NL-demo-[A-Z]|^link netlab0 /.test(o);
}

export function setup(): void {
  if (process.getuid?.() !== 0) throw new Error('the kernel tests create namespaces and firewall rules: run them as root (sudo npm test)');
  before = new Set(netlabObjects());
  if (before.size > 0) console.warn(`netlab objects existed before the tests (left alone):\n  ${[...before].join('\n  ')}`);
}

export function teardown(): void {
  const left = netlabObjects().filter((o) => !before.has(o) && ours(o));
  if (left.length > 0) {
    // vitest only logs an error of a global teardown ("error during close"): the exit code says it.
    process.exitCode = 1;
    throw new Error(`the tests left netlab objects in the kernel or temp files:\n  ${left.join('\n  ')}`);
  }
  console.log('leak check: nothing named netlab was left in the kernel or the temp folders');
}
