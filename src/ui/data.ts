/**
 * The live data behind the page, read from the lab's state and the kernel: the lab and its
 * picture, counters, a container's details, the commands that built a part of the picture.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Lab } from '../model/lab.js';
import { labGraph } from '../graph/model.js';
import { toDot } from '../graph/dot.js';
import { dotToSvg } from '../graph/svg.js';
import { readShares } from '../engine/state.js';
import { inspect, logs } from '../engine/query.js';
import { run } from '../kernel/run.js';
import { RUN_DIR, ETC_NETNS_DIR } from '../paths.js';
import { uiLab, type UiLab } from './model.js';
import { explainSections } from '../plan/explain.js';
import { desiredState } from '../plan/desired.js';
import { diff } from '../plan/diff.js';
import { emptyState } from '../plan/state.js';

/** Which labs the page shows: one file, one lab by name, or every lab up on this host. */
export interface Selection {
  file?: string;
  lab?: string;
  all?: boolean;
}

/** The labs up on this host (each has a state under RUN_DIR). */
export async function labsUp(): Promise<string[]> {
  const names = (await readdir(RUN_DIR).catch(() => [] as string[])).filter((n) => !n.startsWith('.'));
  const up = await Promise.all(names.map(async (n) => ((await readShares(n, { hosts: false })).length > 0 ? n : undefined)));
  return up.filter((n): n is string => n !== undefined).sort();
}

/** The lab as applied when it is up, else as its file says (not live: no counters, no details). */
export async function currentLab(name: string | undefined, sel: Selection): Promise<{ lab: Lab; live: boolean }> {
  const wanted = name ?? sel.lab;
  if (wanted !== undefined) {
    const shares = await readShares(wanted);
    if (shares.length > 0) return { lab: wholeLab(shares.map((s) => s.resolved)), live: true };
  }
  const { viewLab } = await import('../engine/view.js');
  const view = await viewLab({ file: sel.file, name: wanted, live: true });
  return { lab: view.lab, live: view.live };
}

/** A multi-host lab's shares each know the whole lab; one of them draws it. */
function wholeLab(labs: Lab[]): Lab {
  return labs[0]!;
}

export interface LabPicture extends UiLab {
  svg: string;
  /** Changes when the lab's state changes: the page reloads the picture then. */
  version: string;
}

export async function labPicture(name: string | undefined, sel: Selection): Promise<LabPicture> {
  const { lab, live } = await currentLab(name, sel);
  const graph = labGraph(lab, { live });
  const svg = await dotToSvg(toDot(graph));
  return { ...uiLab(lab, graph, live), svg, version: await labVersion(lab.name) };
}

/** The lab's state files' modification times: what changes when `up` or `down` ran. */
export async function labVersion(lab: string): Promise<string> {
  const shares = await readShares(lab, { hosts: false });
  return shares.map((s) => s.updatedAt).join(',') || 'down';
}

export interface Counters {
  at: number;
  interfaces: Record<string, { rxBytes: number; txBytes: number; rxPackets: number; txPackets: number; dropped: number }>;
  ports: Record<string, number | null>;
}

/** The kernel's counters of a lab that is up: each container interface's, each published port's DNAT rule's. */
export async function counters(lab: string): Promise<Counters> {
  const { labStats } = await import('../trace/stats.js');
  const s = await labStats(lab);
  const interfaces: Counters['interfaces'] = {};
  for (const i of s.interfaces) {
    interfaces[`${i.container}/${i.ifname}`] = { rxBytes: i.rx.bytes, txBytes: i.tx.bytes, rxPackets: i.rx.packets, txPackets: i.tx.packets, dropped: i.rx.dropped + i.tx.dropped };
  }
  const ports: Counters['ports'] = {};
  for (const p of s.ports) ports[p.port] = p.packets;
  return { at: Date.now(), interfaces, ports };
}

export interface ContainerDetail {
  name: string;
  inspect: Record<string, unknown>;
  addresses: string;
  routes: string;
  hosts: string;
  linkEnv: string[];
  logTail: string[];
}

/** What a click on a container shows: its interfaces, routes, /etc/hosts, link variables, state, last log lines. */
export async function containerDetail(lab: string, name: string): Promise<ContainerDetail> {
  const doc = await inspect(lab, name);
  const netns = (doc.NetworkSettings as { SandboxKey: string }).SandboxKey.split('/').pop()!;
  const ip = async (...args: string[]) => (await run('ip', ['-n', netns, ...args], { allowFail: true })).stdout;
  const env = ((doc.Config as { Env: string[] }).Env ?? []).filter((e) => /_PORT(_\d+_(TCP|UDP)(_\w+)?)?=|_NAME=|_ENV_/.test(e));
  const text = (await logs(lab, name).catch(() => '')).split('\n');
  return {
    name,
    inspect: doc,
    addresses: await ip('-br', 'addr'),
    routes: await ip('route'),
    hosts: await readFile(join(ETC_NETNS_DIR, netns, 'hosts'), 'utf8').catch(() => ''),
    linkEnv: env,
    logTail: text.slice(-21, text.at(-1) === '' ? -1 : undefined).slice(-20),
  };
}

export interface PartExplain {
  title: string;
  why: string[];
  commands: string[];
}

/** The commands `explain` prints for the part of the lab a node stands for, with their Docker meaning. */
export function explainPart(lab: Lab, node: { kind: string; container?: string; label: string[] }): PartExplain[] {
  const { SELF_ARGV } = selfArgv;
  const ops = diff(desiredState(lab, { selfArgv: SELF_ARGV }), emptyState(lab.name));
  const sections = explainSections(lab, ops);
  const bridge = node.kind === 'bridge' ? node.label[0]!.replace(/^bridge /, '') : undefined;
  const network = bridge ? lab.networks.find((n) => n.bridge === bridge)?.name : undefined;
  const port = node.kind === 'port' ? node.label[0]!.replace(/^\*/, '').split('/')[0]!.split(':').pop() : undefined;
  const pick = sections.filter((s) => {
    if (network) return (s.subject.kind === 'network' || s.subject.kind === 'overlay') && s.subject.network === network;
    if (node.container) return s.subject.kind === 'container' && s.subject.container === node.container;
    if (port) return s.subject.kind === 'firewall';
    return s.subject.kind === 'firewall' || s.subject.kind === 'host';
  });
  // iptables writes a range a:b, nft a-b.
  const ipt = port?.replace('-', ':');
  return pick.map((s) => ({ title: s.title, why: s.why, commands: port ? s.commands.filter((c) => c.includes(`--dport ${ipt}`) || c.includes(`dport ${port} `) || !/dport/.test(c)) : s.commands }));
}

/** How `explain` names this netlab (the built-in server's command): as `up` does, without loading up.ts here. */
const selfArgv = { SELF_ARGV: [process.execPath, new URL('../cli/main.js', import.meta.url).pathname] };
