/**
 * Ops: the small steps that change the kernel. The plan produces them, the kernel layer
 * applies them, and `explain` prints each as the command that does the same thing.
 */
import type { FirewallState, ProcessMark, ProcessSpec } from './state.js';
import type { TextPiece } from '../model/etcfiles.js';
import type { Impairment } from '../model/impair.js';

export type Op =
  /** `mark`: the alias of its `lo`, set before the namespace is bound to its name (no moment when it is named but unmarked). */
  | { kind: 'netns.add'; ns: string; mark?: string }
  | { kind: 'netns.del'; ns: string }
  /**
   * `group`: the lab's device group (linkGroup), given at creation: it marks a link the lab made
   * and a run killed before it could set the link's alias (the kernel takes no alias at creation).
   */
  | { kind: 'bridge.add'; name: string; mtu: number; group?: number }
  | { kind: 'veth.add'; name: string; mtu: number; peer: { ns: string; name: string }; group?: number }
  | { kind: 'vxlan.add'; name: string; vni: number; port: number; local: string; mtu: number; group?: number }
  | { kind: 'fdb.append'; dev: string; dst: string }
  | { kind: 'fdb.del'; dev: string; dst: string }
  | { kind: 'link.del'; name: string; ns?: string }
  | { kind: 'link.set'; name: string; ns?: string; alias?: string; mtu?: number; mac?: string; master?: string; up?: boolean; hairpin?: boolean }
  | { kind: 'addr.add'; dev: string; cidr: string; ns?: string }
  | { kind: 'addr.del'; dev: string; cidr: string; ns?: string }
  | { kind: 'route.replace'; route: string; ns?: string }
  | { kind: 'route.del'; route: string; ns?: string }
  /** A sysctl of a network namespace (net.* keys are per namespace), written from inside it. */
  | { kind: 'netns.sysctl'; ns: string; key: string; value: string }
  /** Waits until the kernel has removed these host ends of veth pairs, as it does when their namespaces go. */
  | { kind: 'kernel.reap'; links: string[] }
  | { kind: 'sysctl.set'; key: string; value: string }
  /** `pieces`: the same content as slices of a text many files share (etcfiles.ts), for the writer; not printed. */
  | { kind: 'file.write'; path: string; content: string; pieces?: TextPiece[] }
  | { kind: 'file.del'; path: string; dir?: boolean }
  | { kind: 'uts.add'; path: string; hostname: string }
  | { kind: 'uts.del'; path: string }
  /** A container's mount namespace, bound on `path`, set up by `script` (model/mounts.ts); `hash` names the mounts. */
  | { kind: 'mnt.add'; path: string; ns: string; script: string[]; fstab: string; volumes: string[]; hash: string }
  | { kind: 'mnt.del'; path: string }
  | { kind: 'firewall.apply'; lab: string; want: FirewallState; have?: FirewallState }
  | { kind: 'firewall.remove'; lab: string; have: FirewallState }
  /** Forget the conntrack entries of a UDP host port whose DNAT is new: old flows would stay black-holed (moby#8795). */
  | { kind: 'conntrack.flush'; proto: 'udp'; port: number; portEnd?: number; family?: 6 }
  /** `mark`: the lab, container and host share the command carries in its environment (processMark). */
  | { kind: 'process.start'; container: string; ns: string; uts: string; mnt: string; dir: string; log: string; spec: ProcessSpec; specHash: string; mark: ProcessMark }
  /** `monitor`: the container's monitor, stopped first so that it restarts nothing. */
  | { kind: 'process.stop'; container: string; ns: string; pids: number[]; monitor?: number }
  | { kind: 'ovs.bridge.add'; bridge: string; datapath: 'system' | 'netdev'; lab: string }
  | { kind: 'ovs.bridge.del'; bridge: string }
  | { kind: 'ovs.port.add'; bridge: string; port: string; type: 'vxlan' | 'internal'; options: Record<string, string>; lab: string }
  | { kind: 'ovs.port.del'; bridge: string; port: string }
  | { kind: 'ovs.plug'; port: string; master: string; mtu: number }
  | { kind: 'ovs.flows'; bridge: string; cookie: string; flows: string[] }
  /** An interface's impairment (tc tbf/netem, model/tc.ts), from `have` (what it has now, if read) to `impair` (empty: none). */
  | { kind: 'tc.set'; ns: string; dev: string; impair: Impairment; have?: Impairment };

export type OpKind = Op['kind'];

/** Ops that iproute2 (`ip`) or rtnetlink carry out. */
export type LinkOp = Extract<Op, { kind: `netns.${string}` | `bridge.${string}` | `veth.${string}` | `vxlan.${string}` | `fdb.${string}` | `link.${string}` | `addr.${string}` | `route.${string}` }>;

export function isLinkOp(op: Op): op is LinkOp {
  return /^(netns|bridge|veth|vxlan|fdb|link|addr|route)\./.test(op.kind);
}

/** Ops carried out with ovs-vsctl / ovs-ofctl. */
export type OvsOp = Extract<Op, { kind: `ovs.${string}` }>;

export function isOvsOp(op: Op): op is OvsOp {
  return op.kind.startsWith('ovs.');
}
