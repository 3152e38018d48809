/**
 * The iproute2 link executor: applies link, address, route and namespace Ops with `ip -batch`,
 * one process for the host and one per namespace, run side by side.
 */
import type { LinkOp } from '../plan/ops.js';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { NETNS_DIR } from '../paths.js';
import { faultPoint, NETNS_FILE_FAULT } from './fault.js';
import { mapLimit, run } from './run.js';

const group = (g: number | undefined) => (g === undefined ? [] : ['group', String(g)]);

/** The arguments of one Op for `ip` (or `bridge`, for FDB entries), and the namespace they run in. Also what `explain` prints. */
export function ipArgs(op: LinkOp): { ns?: string; args: string[]; program?: 'bridge' } {
  switch (op.kind) {
    case 'vxlan.add':
      // An explicit dstport: without it Linux uses the legacy 8472, not IANA's 4789.
      return { args: ['link', 'add', op.name, 'mtu', String(op.mtu), ...group(op.group), 'type', 'vxlan', 'id', String(op.vni), 'dstport', String(op.port), 'local', op.local] };
    case 'fdb.append':
      return { program: 'bridge', args: ['fdb', 'append', '00:00:00:00:00:00', 'dev', op.dev, 'dst', op.dst] };
    case 'fdb.del':
      return { program: 'bridge', args: ['fdb', 'del', '00:00:00:00:00:00', 'dev', op.dev, 'dst', op.dst] };
    case 'netns.add':
      return { args: ['netns', 'add', op.ns] };
    case 'netns.del':
      return { args: ['netns', 'del', op.ns] };
    case 'netns.sysctl':
      // Run from the host's batch (`ip -batch` forks for `netns exec`): no `ip` command writes a sysctl.
      return { args: ['netns', 'exec', op.ns, 'sysctl', '-qw', `${op.key}=${op.value}`] };
    case 'bridge.add':
      return { args: ['link', 'add', op.name, 'mtu', String(op.mtu), ...group(op.group), 'type', 'bridge'] };
    case 'veth.add':
      return { args: ['link', 'add', op.name, 'mtu', String(op.mtu), ...group(op.group), 'type', 'veth', 'peer', 'name', op.peer.name, 'mtu', String(op.mtu), 'netns', op.peer.ns] };
    case 'link.del':
      return { ns: op.ns, args: ['link', 'del', op.name] };
    case 'link.set': {
      const args = ['link', 'set', 'dev', op.name];
      if (op.alias !== undefined) args.push('alias', op.alias);
      if (op.mac !== undefined) args.push('address', op.mac);
      if (op.mtu !== undefined) args.push('mtu', String(op.mtu));
      if (op.master !== undefined) args.push('master', op.master);
      if (op.up) args.push('up');
      if (op.hairpin !== undefined) args.push('type', 'bridge_slave', 'hairpin', op.hairpin ? 'on' : 'off');
      return { ns: op.ns, args };
    }
    case 'addr.add':
      // IPv6: nodad, so the address is usable at once (no second of duplicate detection); no broadcast.
      if (op.cidr.includes(':')) return { ns: op.ns, args: ['addr', 'add', op.cidr, 'dev', op.dev, 'nodad'] };
      return { ns: op.ns, args: ['addr', 'add', op.cidr, 'brd', '+', 'dev', op.dev] };
    case 'addr.del':
      return { ns: op.ns, args: ['addr', 'del', op.cidr, 'dev', op.dev] };
    case 'route.replace':
      return { ns: op.ns, args: ['route', 'replace', ...op.route.split(' ')] };
    case 'route.del':
      return { ns: op.ns, args: ['route', 'del', ...op.route.split(' ')] };
  }
}

/**
 * `ip netns add` with the namespace marked before it is bound to its name: `ip` in a fresh
 * namespace of its own (unshare) sets the alias of its `lo`, then binds that namespace on
 * /run/netns/<ns> (`netns attach` with its own pid). Killed before the bind, it leaves at most
 * an empty file, which the next run clears.
 */
async function addMarkedNetns(op: NetnsAdd): Promise<void> {
  // The crash test's fault point: what `ip` leaves when killed between making the file and binding.
  if (process.env.NETLAB_FAULT_AFTER === NETNS_FILE_FAULT) closeSync(openSync(join(NETNS_DIR, op.ns), 'wx', 0));
  faultPoint(NETNS_FILE_FAULT);
  const input = (pid: number) => `${[batchLine(['link', 'set', 'dev', 'lo', 'alias', op.mark!]), batchLine(['netns', 'attach', op.ns, String(pid)])].join('\n')}\n`;
  await run('unshare', ['--net', 'ip', '-batch', '-'], { input });
}

/**
 * One line of `ip -batch` input. The batch parser splits on blanks and reads quotes, `#` and
 * newlines, so a word holding one could change the command: every value is validated long
 * before this, and a word that would still carry one is a bug, refused here.
 */
export function batchLine(args: string[]): string {
  for (const a of args) if (a === '' || /[\s"'\\#;]/.test(a)) throw new Error(`refusing to pass ${JSON.stringify(a)} to ip -batch`);
  return args.join(' ');
}

type NetnsAdd = Extract<LinkOp, { kind: 'netns.add' }>;

/**
 * Host Ops first, in order, in batches (a marked namespace is made by a process of its own
 * between two batches); then every namespace's batch, concurrently.
 */
export async function applyWithIproute2(ops: LinkOp[], concurrency = 8): Promise<void> {
  const host: string[] = [];
  const fdb: string[] = [];
  const perNs = new Map<string, string[]>();
  const marked: NetnsAdd[] = [];
  const flushHost = async () => {
    if (host.length > 0) await run('ip', ['-batch', '-'], { input: `${host.splice(0).join('\n')}\n` });
    await mapLimit(marked.splice(0), concurrency, addMarkedNetns);
  };
  for (const op of ops) {
    const { ns, args, program } = ipArgs(op);
    if (op.kind === 'netns.add' && op.mark !== undefined) {
      if (host.length > 0) await flushHost();
      marked.push(op);
      continue;
    }
    if (marked.length > 0 && ns === undefined && program === undefined) await flushHost();
    if (program === 'bridge') fdb.push(batchLine(args));
    else if (ns === undefined) host.push(batchLine(args));
    else perNs.set(ns, [...(perNs.get(ns) ?? []), batchLine(args)]);
  }
  await flushHost();
  if (fdb.length > 0) await run('bridge', ['-batch', '-'], { input: `${fdb.join('\n')}\n` });
  await mapLimit([...perNs], concurrency, ([ns, lines]) => run('ip', ['-n', ns, '-batch', '-'], { input: `${lines.join('\n')}\n` }));
}
