/**
 * What a killed trace left when its record is lost too: found by the kernel's own marks, as
 * `down` finds a lab. A trace's table `nltrace-<lab>-<pid>` carries the comment
 * `netlab:<lab>:trace`; its outside veth `nltr<pid>` the alias `netlab:<lab>:trace:outside`.
 * Only a trace whose netlab is gone is touched.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../kernel/run.js';
import { NETNS_DIR } from '../paths.js';
import { alive, outsideVeth, TRACE_PREFIX } from './marks.js';

const TRACE_NAME = new RegExp('^' + TRACE_PREFIX + '-(.+)-(\\d+)$');

/** A trace's name split into its lab and pid, when that netlab is gone. */
function deadTrace(name: string): { lab: string; pid: number } | undefined {
  const m = TRACE_NAME.exec(name);
  if (!m) return undefined;
  const pid = Number(m[2]);
  return pid === process.pid || alive(pid) ? undefined : { lab: m[1]!, pid };
}

/** Removes the unrecorded leftovers of dead traces: tables in the host and in their lab's namespaces, outside namespaces. */
export async function sweepByMark(): Promise<void> {
  // The remover (trace/kernel.ts) is loaded only when there is something to remove: almost never.
  const kernel = () => import('./kernel.js');
  for (const name of await ipTables()) {
    const dead = deadTrace(name);
    if (!dead || !(await tableMarked(name, dead.lab))) continue;
    const { removeTable } = await kernel();
    await removeTable(undefined, name);
    const nss = existsSync(NETNS_DIR) ? readdirSync(NETNS_DIR).filter((n) => n.startsWith(`netlab-${dead.lab}-`)) : [];
    for (const ns of nss) await removeTable(ns, name);
  }
  for (const ns of existsSync(NETNS_DIR) ? readdirSync(NETNS_DIR) : []) {
    const dead = deadTrace(ns);
    const veth = dead && outsideVeth(dead.pid);
    if (dead && veth && aliasOf(veth) === `netlab:${dead.lab}:trace:outside`) await (await kernel()).removeOutside({ netns: ns, veth });
  }
}

/**
 * The names of the host's nftables tables of family ip: one netfilter dump in-process (every
 * `up` and `down` sweeps, and an `nft` process cost each a serial 30 ms), else `nft list tables`.
 */
async function ipTables(): Promise<string[]> {
  try {
    const { nftTableNames } = await import('../kernel/nldump.js');
    return nftTableNames('ip');
  } catch {
    // Not askable in-process (no koffi, no nf_tables netlink here): `nft` answers instead, so nothing is missed.
    const listed = await run('nft', ['list', 'tables'], { allowFail: true });
    return listed.stdout.split('\n').flatMap((l) => /^table ip (\S+)$/.exec(l.trim())?.[1] ?? []);
  }
}

async function tableMarked(name: string, lab: string): Promise<boolean> {
  const r = await run('nft', ['list', 'table', 'ip', name], { allowFail: true });
  return r.stdout.split('\n').some((l) => l.trim() === `comment "netlab:${lab}:trace"`);
}

function aliasOf(link: string): string | undefined {
  try {
    return readFileSync(join('/sys/class/net', link, 'ifalias'), 'utf8').trim();
  } catch {
    return undefined;
  }
}
