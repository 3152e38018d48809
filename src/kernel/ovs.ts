/**
 * Open vSwitch: applies the lab's OVS Ops with ovs-vsctl (one transaction) and ovs-ofctl, and
 * reads back the bridges marked `external_ids:netlab-lab=<lab>`. Which OVS it talks to follows
 * the OVS tools' own convention: the daemons of $OVS_RUNDIR (default /var/run/openvswitch).
 */
import type { OvsOp } from '../plan/ops.js';
import type { OvsBridgeState } from '../plan/state.js';
import { ovsName } from '../model/names.js';
import { existsSync } from 'node:fs';
import { run } from './run.js';

/**
 * How long an OVS tool waits for the switch: a switch that does not answer fails the call instead
 * of holding the run. NETLAB_OVS_TIMEOUT (seconds, default 10) gives a slow machine, e.g. an
 * emulated VM on a busy host, more. Added when run, not in explain's text.
 */
export function ovsTimeoutArgs(env: NodeJS.ProcessEnv = process.env): string[] {
  const raw = env.NETLAB_OVS_TIMEOUT;
  if (raw === undefined || raw === '') return ['--timeout=10'];
  if (!/^[1-9][0-9]*$/.test(raw)) throw new Error(`NETLAB_OVS_TIMEOUT: "${raw}" is not a whole number of seconds above 0`);
  return [`--timeout=${raw}`];
}

/** The commands that carry out one Op, as argv lists (also what `explain` prints). */
export function ovsCommands(op: OvsOp): string[][] {
  switch (op.kind) {
    case 'ovs.bridge.add':
      return [['ovs-vsctl', 'add-br', op.bridge, '--', 'set', 'bridge', op.bridge, `datapath_type=${op.datapath}`, `external_ids:netlab-lab=${op.lab}`]];
    case 'ovs.bridge.del':
      return [['ovs-vsctl', '--if-exists', 'del-br', op.bridge]];
    case 'ovs.port.add':
      return [
        [
          'ovs-vsctl',
          'add-port',
          op.bridge,
          op.port,
          '--',
          'set',
          'interface',
          op.port,
          `type=${op.type}`,
          ...Object.entries(op.options).map(([k, v]) => `options:${k}=${v}`),
          `external_ids:netlab-lab=${op.lab}`,
        ],
      ];
    case 'ovs.port.del':
      return [['ovs-vsctl', '--if-exists', 'del-port', op.bridge, op.port]];
    case 'ovs.plug':
      return [['ip', 'link', 'set', 'dev', op.port, 'mtu', String(op.mtu), 'master', op.master, 'up']];
    case 'ovs.flows':
      return [['ovs-ofctl', 'del-flows', op.bridge, `cookie=${op.cookie}/-1`], ...op.flows.map((f) => ['ovs-ofctl', 'add-flow', op.bridge, `cookie=${op.cookie},${f}`])];
  }
}

/** Runs consecutive ovs-vsctl commands as one transaction, the rest one by one. */
export async function applyOvs(ops: OvsOp[]): Promise<void> {
  const commands = ops.flatMap(ovsCommands);
  let vsctl: string[] = [];
  const flush = async () => {
    if (vsctl.length) await run('ovs-vsctl', [...ovsTimeoutArgs(), ...vsctl]);
    vsctl = [];
  };
  for (const [program, ...args] of commands) {
    if (program === 'ovs-vsctl') vsctl.push(...(vsctl.length ? ['--'] : []), ...args);
    else {
      await flush();
      await run(program!, program === 'ovs-ofctl' ? [...ovsTimeoutArgs(), ...args] : args);
    }
  }
  await flush();
}

interface OvsdbTable {
  headings: string[];
  data: unknown[][];
}

/** OVSDB's JSON encoding: ["map", [[k, v]...]], ["set", [...]], ["uuid", id] or a scalar. */
function decode(v: unknown): unknown {
  if (!Array.isArray(v)) return v;
  if (v[0] === 'map') return Object.fromEntries((v[1] as [unknown, unknown][]).map(([k, x]) => [k, decode(x)]));
  if (v[0] === 'set') return (v[1] as unknown[]).map(decode);
  if (v[0] === 'uuid') return v[1];
  return v;
}

async function listTable(table: string, columns: string[]): Promise<Record<string, unknown>[] | undefined> {
  const r = await run('ovs-vsctl', ['--timeout=3', '-f', 'json', '--columns', columns.join(','), 'list', table], { allowFail: true });
  if (r.exitCode !== 0) return undefined;
  const t = JSON.parse(r.stdout) as OvsdbTable;
  return t.data.map((row) => Object.fromEntries(t.headings.map((h, i) => [h, decode(row[i])])));
}

/** The database socket of the OVS that the tools reach from here ($OVS_RUNDIR, as they use it). */
export function ovsDbSocket(): string {
  return `${process.env.OVS_RUNDIR ?? '/var/run/openvswitch'}/db.sock`;
}

/**
 * The lab's OVS bridges and their ports, by their marks (external_ids:netlab-lab, set in the
 * transaction that makes each one); undefined when no OVS runs here. A bridge or port with a name
 * the lab wants that does not carry the mark is named in `foreign`.
 */
export async function observeOvs(
  lab: string,
  masters: (port: string) => { master?: string; mtu?: number },
  want: Record<string, OvsBridgeState> = {},
): Promise<{ bridges: Record<string, OvsBridgeState>; foreign: string[] } | undefined> {
  if (!existsSync(ovsDbSocket())) return undefined;
  const bridges = await listTable('Bridge', ['_uuid', 'name', 'datapath_type', 'external_ids', 'ports']);
  if (!bridges) return undefined;
  const ports = (await listTable('Port', ['_uuid', 'name', 'interfaces'])) ?? [];
  const ifaces = (await listTable('Interface', ['_uuid', 'name', 'type', 'options', 'external_ids'])) ?? [];
  const markOf = (row: Record<string, unknown>) => (row.external_ids as Record<string, string> | undefined)?.['netlab-lab'];
  const described = (row: Record<string, unknown>) => (markOf(row) ? `marked for lab "${markOf(row)}"` : 'no netlab mark');
  const out: Record<string, OvsBridgeState> = {};
  const foreign: string[] = [];
  const wantedPorts = new Set(Object.values(want).flatMap((b) => Object.keys(b.ports)));
  for (const i of ifaces) if (wantedPorts.has(i.name as string) && markOf(i) !== lab) foreign.push(`Open vSwitch port ${i.name as string} (${described(i)})`);
  for (const b of bridges) {
    const name = b.name as string;
    if (markOf(b) !== lab) {
      if (want[name]) foreign.push(`Open vSwitch bridge ${name} (${described(b)})`);
      continue;
    }
    const state: OvsBridgeState = { datapath: b.datapath_type === 'system' || b.datapath_type === '' ? 'system' : 'netdev', ports: {}, flows: [] };
    const portIds = [b.ports].flat() as string[];
    for (const p of ports.filter((x) => portIds.includes(x._uuid as string))) {
      const iface = ifaces.find((i) => [p.interfaces].flat().includes(i._uuid));
      if (!iface || p.name === name) continue; // the bridge's own local port
      // Someone else's port on the lab's bridge: never the lab's to change (as a link plugged into its Linux bridge).
      if (markOf(iface) !== lab) continue;
      const type = iface.type === 'vxlan' ? 'vxlan' : 'internal';
      state.ports[p.name as string] = { type, options: (iface.options as Record<string, string>) ?? {}, ...(type === 'internal' ? masters(p.name as string) : {}) };
    }
    const flows = await run('ovs-ofctl', [...ovsTimeoutArgs(), '--names', 'dump-flows', name, `cookie=${ovsName.cookie(lab)}/-1`], { allowFail: true });
    state.flows = flows.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith('cookie='))
      .map(normaliseFlow);
    out[name] = state;
  }
  return { bridges: out, foreign };
}

/** ` cookie=0x1, duration=1s, table=0, n_packets=3, n_bytes=4, priority=100,in_port=x actions=output:y` → `priority=100,in_port=x actions=output:y`. */
export function normaliseFlow(line: string): string {
  const fields = line.split(/,?\s+/).filter((f) => !/^(cookie|duration|table|n_packets|n_bytes|idle_age|hard_age|reset_counts)=/.test(f) && f !== '');
  return fields.join(' ').replace(/^(\S+) (actions=)/, '$1 $2');
}
