/**
 * Turns what the monitors of each namespace saw into the probe's path: the first packet each
 * way, hook by hook, with the rules that decided and the NAT rewrites, and how it ended. Pure.
 */
import { flagWords, parseTraceLine, type TraceLine, type TracedPacket } from './parse.js';
import type { NatRewrite, RuleHit, TraceEnd, TraceLeg, TraceStep } from './model.js';
import { TRACE_PREFIX } from './marks.js';

export interface SpaceLines {
  /** `host`, `outside` or a container's name. */
  label: string;
  lines: { at: number; line: string }[];
}

/** One packet passing one base chain, with the rule lines that followed. */
interface Pass {
  space: string;
  at: number;
  table: string;
  chain: string;
  packet: TracedPacket;
  rules: Extract<TraceLine, { kind: 'rule' | 'policy' }>[];
  /** The trace's own rule that marked the packet here, if it was marked here. */
  mark?: string;
}

export interface PathInput {
  lab: string;
  proto: 'tcp' | 'udp' | 'icmp';
  key: number;
  /** The namespaces in the order the probe crosses them. */
  spaces: SpaceLines[];
  /** UDP ports of the lab's VXLAN tunnels. */
  tunnelPorts?: number[];
  /** The text of a rule as explain prints it (iptables rules are looked up by handle). */
  ruleText: (space: string, line: Extract<TraceLine, { kind: 'rule' }>) => string;
}

export function passesOf(space: SpaceLines): Pass[] {
  const passes: Pass[] = [];
  const open = new Map<string, Pass>();
  for (const { at, line } of space.lines) {
    const l = parseTraceLine(line);
    if (!l) continue;
    if (l.kind === 'packet') {
      const p: Pass = { space: space.label, at, table: `${l.family} ${l.table}`, chain: l.chain, packet: l.packet, rules: [] };
      open.set(l.id, p);
      passes.push(p);
    } else if (l.kind === 'rule' && l.table.startsWith(`${TRACE_PREFIX}-`)) {
      const p = open.get(l.id);
      if (p) p.mark = l.text;
    } else if (l.kind === 'rule' || l.kind === 'policy') open.get(l.id)?.rules.push(l);
  }
  return passes;
}

export function direction(p: TracedPacket, proto: PathInput['proto'], key: number): 'forward' | 'reply' | undefined {
  if (p.proto === 'icmp' && p.icmpType !== 'echo-request' && p.icmpType !== 'echo-reply') return 'reply';
  if (proto === 'icmp') return p.icmpId === key ? (p.icmpType === 'echo-request' ? 'forward' : 'reply') : undefined;
  if (p.sport === key) return 'forward';
  if (p.dport === key) return 'reply';
  return undefined;
}

const isTunnel = (p: Pass, input: PathInput) => p.packet.vni !== undefined && !!input.tunnelPorts?.includes(p.packet.dport ?? -1);

/** Which way each encapsulated packet went, from the rule that marked it in its namespace (see tunnelExprs). */
function tunnelDirections(all: Pass[], input: PathInput): Map<Pass, 'forward' | 'reply'> {
  const groups = new Map<string, Pass[]>();
  for (const p of all.filter((x) => isTunnel(x, input))) {
    const k = `${p.space} ${p.packet.ipId}`;
    groups.set(k, [...(groups.get(k) ?? []), p]);
  }
  const out = new Map<Pass, 'forward' | 'reply'>();
  for (const g of groups.values()) {
    const mark = g.find((p) => p.mark)?.mark ?? '';
    const dir = /@th,400,16 |@th,400,8 (0x)?0*8 /.test(mark) ? 'forward' : /@th,416,16 |@th,400,8 (0x)?0 /.test(mark) ? 'reply' : undefined;
    if (dir) for (const p of g) out.set(p, dir);
  }
  return out;
}

/**
 * The passes of the first packet that went one way: the same IP id (and TCP flags) in every
 * namespace, and in each namespace the first envelope that carried it over a tunnel.
 */
function firstPacket(all: Pass[], dir: 'forward' | 'reply', input: PathInput): Pass[] {
  const tunnel = tunnelDirections(all, input);
  const mine = all.filter((p) => (isTunnel(p, input) ? tunnel.get(p) : direction(p.packet, input.proto, input.key)) === dir);
  const first = mine.filter((p) => !isTunnel(p, input)).sort((a, b) => a.at - b.at)[0];
  if (!first) return [];
  const same = (p: Pass) => p.packet.ipId === first.packet.ipId && p.packet.tcpFlags === first.packet.tcpFlags && p.packet.icmpType === first.packet.icmpType;
  const envelope = new Map<string, number | undefined>();
  for (const p of mine) if (isTunnel(p, input) && !envelope.has(p.space)) envelope.set(p.space, p.packet.ipId);
  const keep = (p: Pass) => (isTunnel(p, input) ? envelope.get(p.space) === p.packet.ipId : same(p));
  const order = input.spaces.map((s) => s.label);
  if (dir === 'reply') order.reverse();
  return order.flatMap((space) => mine.filter((p) => p.space === space && keep(p)));
}

const HOOKS = ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'];
const OWN_CHAINS: Record<string, string> = { t_pre: 'PREROUTING', t_in: 'INPUT', t_fwd: 'FORWARD', t_out: 'OUTPUT', t_post: 'POSTROUTING' };

export function hookOf(p: Pass): string {
  if (p.table.startsWith(`ip ${TRACE_PREFIX}-`)) return OWN_CHAINS[p.chain] ?? p.chain;
  const upper = p.chain.toUpperCase();
  return HOOKS.find((h) => upper === h || upper.endsWith(`-${h}`) || upper.endsWith(`_${h}`)) ?? upper;
}

const at = (addr: string | undefined, port: number | undefined) => `${addr ?? '?'}${port !== undefined ? `:${port}` : ''}`;

function natBetween(space: string, a: TracedPacket, b: TracedPacket, reply: boolean): NatRewrite[] {
  const out: NatRewrite[] = [];
  if (a.daddr !== b.daddr || a.dport !== b.dport) out.push({ namespace: space, kind: reply ? 'un-SNAT' : 'DNAT', before: at(a.daddr, a.dport), after: at(b.daddr, b.dport) });
  if (a.saddr !== b.saddr || a.sport !== b.sport) out.push({ namespace: space, kind: reply ? 'un-DNAT' : 'SNAT', before: at(a.saddr, a.sport), after: at(b.saddr, b.sport) });
  return out;
}

/** A rule worth showing: not the trace's own, and either deciding or part of this lab's (or the shared) chains. */
function relevant(lab: string, r: RuleHit): boolean {
  if (r.table.startsWith(`ip ${TRACE_PREFIX}-`)) return false;
  if (r.verdict === 'continue') return false;
  // Jumps show the way through this lab's chains; other labs' jumps led nowhere for this packet.
  if (/^(jump|goto) /.test(r.verdict)) return r.lab === lab;
  return true;
}

function hitOf(input: PathInput, p: Pass, l: Pass['rules'][number]): RuleHit {
  const text = l.kind === 'rule' ? input.ruleText(p.space, l) : `policy ${l.verdict}`;
  const lab = /netlab:([a-z0-9_-]+)/.exec(text)?.[1];
  return { namespace: p.space, table: `${l.family} ${l.table}`, chain: l.chain, rule: text, verdict: l.verdict, ...(lab ? { lab } : {}) };
}

/** The passes as steps, one per hook of each namespace; NAT is what changed between two passes of one namespace. */
export function legOf(input: PathInput, passes: Pass[], reply = false): TraceLeg {
  const steps: TraceStep[] = [];
  let prev: { pass: Pass; step: TraceStep } | undefined;
  for (const p of passes) {
    const hook = hookOf(p);
    let step = steps[steps.length - 1];
    const vxlan = isTunnel(p, input) ? { tunnel: { kind: 'vxlan' as const, vni: p.packet.vni! } } : {};
    if (!step || step.namespace !== p.space || step.hook !== hook || !!step.tunnel !== !!vxlan.tunnel) {
      step = {
        namespace: p.space,
        hook,
        ...vxlan,
        ...(p.packet.iif ? { in: p.packet.iif } : {}),
        ...(p.packet.oif ? { out: p.packet.oif } : {}),
        src: at(p.packet.saddr, p.packet.sport),
        dst: at(p.packet.daddr, p.packet.dport),
        rules: [],
        nat: [],
      };
      steps.push(step);
    }
    if (p.packet.oif && !step.out) step.out = p.packet.oif;
    // NAT rewrites the packet in the hook of the pass before the change shows.
    if (prev && prev.pass.space === p.space && isTunnel(prev.pass, input) === isTunnel(p, input)) prev.step.nat.push(...natBetween(p.space, prev.pass.packet, p.packet, reply));
    for (const l of p.rules) {
      const hit = hitOf(input, p, l);
      const seen = step.rules.some((r) => r.table === hit.table && r.chain === hit.chain && r.rule === hit.rule && r.verdict === hit.verdict);
      if (!seen && (l.kind === 'policy' ? l.verdict !== 'accept' : relevant(input.lab, hit))) step.rules.push(hit);
    }
    prev = { pass: p, step };
  }
  const first = passes[0]?.packet;
  return { packet: packetName(first), steps };
}

export function packetName(p: TracedPacket | undefined): string {
  if (!p) return 'none';
  if (p.proto === 'tcp') return flagWords(p.tcpFlags) || 'tcp';
  if (p.proto === 'icmp') return p.icmpType === 'destination-unreachable' || p.icmpType === 'time-exceeded' ? `${p.icmpType}/${p.icmpCode}` : (p.icmpType ?? 'icmp');
  return p.proto ?? 'packet';
}

export function buildLegs(input: PathInput): { forward: TraceLeg; reply?: TraceLeg } {
  const all = input.spaces.flatMap(passesOf);
  const forward = legOf(input, firstPacket(all, 'forward', input));
  const replyPasses = firstPacket(all, 'reply', input);
  return replyPasses.length ? { forward, reply: legOf(input, replyPasses, true) } : { forward };
}

/** How the probe ended, from its path and what its socket saw. */
export function endOf(forward: TraceLeg, reply: TraceLeg | undefined, outcome: string): TraceEnd {
  const dropped = forward.steps.flatMap((s) => s.rules).find((r) => r.verdict === 'drop');
  if (dropped) return { kind: 'dropped', namespace: dropped.namespace, detail: `dropped in ${dropped.namespace} by ${dropped.table} ${dropped.chain}: ${dropped.rule}`, rule: dropped };
  // The destination's INPUT: not a host's, where a tunnel's envelope ends.
  const input = forward.steps.filter((s) => s.hook === 'INPUT' && !s.tunnel).at(-1);
  const r = reply?.packet ?? '';
  if (input) {
    const where = { namespace: input.namespace };
    if (r.startsWith('SYN') || r === 'echo-reply' || (r === 'udp' && outcome === 'answered'))
      return { kind: 'delivered', ...where, detail: `delivered to a listening socket in ${input.namespace} (${input.dst}); it answered (${r})` };
    if (r.startsWith('RST')) return { kind: 'refused', ...where, detail: `refused: nothing listens on ${input.dst} in ${input.namespace}, which answered with a RST` };
    if (r.includes('port-unreachable')) return { kind: 'no-listener', ...where, detail: `nothing listens on ${input.dst} in ${input.namespace}: it answered ICMP port unreachable` };
    return { kind: 'delivered-no-answer', ...where, detail: `delivered to ${input.namespace} (${input.dst}); no answer came back` };
  }
  if (r.includes('unreachable') || outcome === 'unreachable') return { kind: 'no-route', detail: `no route: ${r || outcome}${reply?.steps[0] ? ` (from ${reply.steps[0].namespace})` : ''}` };
  const last = forward.steps[forward.steps.length - 1];
  return {
    kind: 'lost',
    ...(last ? { namespace: last.namespace } : {}),
    detail: last ? `lost after ${last.namespace} ${last.hook}${last.out ? ` (out ${last.out})` : ''}: no rule dropped it, no namespace took it` : 'the probe was not seen (was it sent?)',
  };
}
