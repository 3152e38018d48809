/**
 * Ops: the small steps that change the kernel. The plan produces them, the kernel layer
 * applies them, and `explain` prints each as the command that does the same thing.
 */
import type { FirewallState, ProcessSpec } from './state.js';

export type Op =
  | { kind: 'netns.add'; ns: string }
  | { kind: 'netns.del'; ns: string }
  | { kind: 'bridge.add'; name: string; mtu: number }
  | { kind: 'veth.add'; name: string; mtu: number; peer: { ns: string; name: string } }
  | { kind: 'link.del'; name: string; ns?: string }
  | { kind: 'link.set'; name: string; ns?: string; alias?: string; mtu?: number; mac?: string; master?: string; up?: boolean; hairpin?: boolean }
  | { kind: 'addr.add'; dev: string; cidr: string; ns?: string }
  | { kind: 'addr.del'; dev: string; cidr: string; ns?: string }
  | { kind: 'route.replace'; route: string; ns?: string }
  | { kind: 'route.del'; route: string; ns?: string }
  | { kind: 'sysctl.set'; key: string; value: string }
  | { kind: 'file.write'; path: string; content: string }
  | { kind: 'file.del'; path: string; dir?: boolean }
  | { kind: 'uts.add'; path: string; hostname: string }
  | { kind: 'uts.del'; path: string }
  | { kind: 'firewall.apply'; lab: string; want: FirewallState; have?: FirewallState }
  | { kind: 'firewall.remove'; lab: string; have: FirewallState }
  /** Forget the conntrack entries of a UDP host port whose DNAT is new: old flows would stay black-holed (moby#8795). */
  | { kind: 'conntrack.flush'; proto: 'udp'; port: number }
  | { kind: 'process.start'; container: string; ns: string; uts: string; log: string; spec: ProcessSpec; specHash: string }
  | { kind: 'process.stop'; container: string; ns: string; pids: number[] };

export type OpKind = Op['kind'];

/** Ops that iproute2 (`ip`) or rtnetlink carry out. */
export type LinkOp = Extract<Op, { kind: `netns.${string}` | `bridge.${string}` | `veth.${string}` | `link.${string}` | `addr.${string}` | `route.${string}` }>;

export function isLinkOp(op: Op): op is LinkOp {
  return /^(netns|bridge|veth|link|addr|route)\./.test(op.kind);
}
