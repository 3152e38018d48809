/** What a trace found, as `netlab trace --json` prints it (documented in docs/trace.md). */

export interface TraceEndpoint {
  /** A container's name, `host` or `outside`. */
  name: string;
  /** Its network namespace (absent: the host's own). */
  netns?: string;
  address: string;
}

/** A firewall rule the packet matched, with its text as `netlab explain` prints it. */
export interface RuleHit {
  namespace: string;
  /** `ip filter`, `ip nat`, `inet netlab`, ... */
  table: string;
  chain: string;
  rule: string;
  /** accept, drop, jump NL-x-PORTS, return, ... (nft's words; DNAT and MASQUERADE rules say accept). */
  verdict: string;
  /** The lab whose rule it is (from its `netlab:<lab>` comment), when it is netlab's. */
  lab?: string;
}

export interface NatRewrite {
  namespace: string;
  /** DNAT: the destination rewritten; SNAT (MASQUERADE): the source; an answer's rewrites undo them (un-DNAT: its source, un-SNAT: its destination). */
  kind: 'DNAT' | 'SNAT' | 'un-DNAT' | 'un-SNAT';
  before: string;
  after: string;
}

/** The packet passing one hook of one namespace. */
export interface TraceStep {
  namespace: string;
  hook: 'PREROUTING' | 'INPUT' | 'FORWARD' | 'OUTPUT' | 'POSTROUTING' | string;
  in?: string;
  out?: string;
  /** Source and destination as the hook saw them first (`addr:port`, or `addr` for ICMP). */
  src: string;
  dst: string;
  rules: RuleHit[];
  nat: NatRewrite[];
  /** The packet inside a VXLAN envelope on the underlay: src and dst are then the hosts' underlay addresses. */
  tunnel?: { kind: 'vxlan'; vni: number };
}

export interface TraceLeg {
  /** SYN, SYN-ACK, RST, udp, echo-request, destination-unreachable/port-unreachable, ... */
  packet: string;
  steps: TraceStep[];
}

export type TraceEndKind = 'delivered' | 'delivered-no-answer' | 'refused' | 'no-listener' | 'dropped' | 'no-route' | 'lost';

export interface TraceEnd {
  kind: TraceEndKind;
  /** Where it ended: the namespace that took, refused or dropped it. */
  namespace?: string;
  detail: string;
  /** The rule that dropped it. */
  rule?: RuleHit;
}

export interface TraceResult {
  schema: 1;
  lab: string;
  firewall: 'iptables' | 'nftables';
  proto: 'tcp' | 'udp' | 'icmp';
  from: TraceEndpoint;
  to: TraceEndpoint & { port?: number };
  /** The probe's source port (TCP, UDP) or echo identifier (ICMP). */
  probe: { sourcePort?: number; echoId?: number; outcome: string };
  forward: TraceLeg;
  reply?: TraceLeg;
  end: TraceEnd;
}
