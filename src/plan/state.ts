/**
 * The kernel state of one lab, in one shape for both what netlab wants (desired.ts) and what
 * the host has (kernel/observe.ts), so that planning is a plain comparison (diff.ts).
 */
import type { TextPiece } from '../model/etcfiles.js';
import type { HealthCheck } from '../topology/health.js';
import type { Impairment } from '../model/impair.js';

export interface HostLinkState {
  kind: 'bridge' | 'veth' | 'vxlan' | 'other';
  /** Link alias: netlab's ownership mark. */
  alias?: string;
  mtu: number;
  up: boolean;
  master?: string;
  /** Bridge port hairpin mode: lets a container reach its own published port through the host. */
  hairpin?: boolean;
  mac?: string;
  /** IPv4 addresses in CIDR form. */
  addrs: string[];
  /** For a veth: the namespace and name of its peer, when desired (observed: whether it has a peer in a namespace). */
  peer?: { ns: string; name: string; mac?: string };
  /** For a VXLAN device: its identity, and the remote VTEPs it floods to (head-end replication FDB entries). */
  vxlan?: { vni: number; port: number; local: string };
  fdb?: string[];
}

/** An Open vSwitch bridge of the lab, marked with external_ids:netlab-lab. */
export interface OvsBridgeState {
  datapath: 'system' | 'netdev';
  ports: Record<string, OvsPortState>;
  /** Flows netlab adds (with its cookie), as `priority=N,match actions=...`. */
  flows: string[];
}

export interface OvsPortState {
  type: 'vxlan' | 'internal';
  options: Record<string, string>;
  /** For the internal port: the Linux bridge it is plugged into, and its MTU. */
  master?: string;
  mtu?: number;
}

export interface IfaceState {
  mac: string;
  mtu: number;
  up: boolean;
  addrs: string[];
  /**
   * net.ipv6.conf.<if>.disable_ipv6 is 1: Docker turns IPv6 off on an endpoint that has no IPv6
   * address, so that it sends no neighbour discovery or MLD packets (which the bridge floods to
   * every port). Undefined when the kernel has no IPv6, or the reader could not tell.
   */
  ipv6Disabled?: boolean;
  /** Its tc impairment: desired, when it has one; observed, when the qdiscs were read (empty: none). */
  impair?: Impairment;
}

/** The sysctl behind IfaceState.ipv6Disabled. */
export const disableIpv6Key = (ifname: string) => `net.ipv6.conf.${ifname}.disable_ipv6`;

export interface NamespaceState {
  /** The alias of `lo`: netlab's mark inside a namespace. */
  mark?: string;
  loUp: boolean;
  ifaces: Record<string, IfaceState>;
  /** `default via 172.31.0.1 dev eth0`-style route keys (static routes only, not kernel ones). */
  routes: string[];
}

export interface ProcessSpec {
  argv: string[];
  env: [string, string][];
  /** Docker's --user (resolved: uid, gid) and --workdir. */
  user?: { uid: number; gid: number; name?: string };
  workdir?: string;
  /** Docker's --restart, applied by the container's monitor. */
  restart?: { policy: string; maxRetries?: number };
  health?: HealthCheck;
}

/** A container's mount namespace: desired, with the script that sets it up; observed, with the hash it was made with. */
export interface MntState {
  ns: string;
  hash: string;
  script?: string[];
  fstab?: string;
  /** The volumes' host paths, in the order the script opens them. */
  volumes?: string[];
}

/** Whose a container's process is: it carries this in its environment, and keeps it wherever it runs. */
export interface ProcessMark {
  lab: string;
  container: string;
  /** The host share, in a multi-host lab. */
  host?: string;
}

export interface ProcessState {
  running: boolean;
  pids: number[];
  /**
   * Observed: processes carrying the container's mark outside its namespace (left running in a
   * namespace that was deleted by hand): never the container's, always stopped.
   */
  strays?: number[];
  /** Observed: processes the container's own started in a namespace of their own: stopped with its command. */
  nested?: number[];
  /** Hash of argv + env of what was started (from the state file), to restart on change. */
  specHash?: string;
  /** The monitor netlab vouches for (recorded in the state file as the pid it started). */
  pid?: number;
  /** Observed: the pid of the container's monitor, when it runs. */
  monitor?: number;
}

export interface FirewallTable {
  /** The lab's own chains. */
  chains: string[];
  /** The lab's rules in chains it does not own (hooks, shared isolation chains): added and removed one by one. */
  jumps: string[];
  /** The rules of the lab's own chains, in order. */
  rules: string[];
  /** Shared chains: desired, those the lab needs; observed, those that exist. */
  shared?: string[];
  /** Observed: per shared chain (or base chain), how many rules in it are not this lab's. */
  others?: Record<string, number>;
  /** Observed (nftables): the handle of each of the lab's rules in `jumps`, to delete it by. */
  handles?: Record<string, number>;
}

export interface FirewallState {
  backend: 'iptables' | 'nftables';
  /** Canonical text per table: chains, jumps and rules, for comparison and for removal. */
  tables: Record<string, FirewallTable>;
  /** Observed (iptables): the filter table's FORWARD policy is DROP (Docker sets it). */
  forwardDrop?: boolean;
  /** Observed (iptables): ip6tables' FORWARD policy is DROP (Docker sets it for IPv6 too). */
  forwardDrop6?: boolean;
  /** Desired: each published UDP host port with the text of its DNAT rule (in `rules`), for conntrack.flush. */
  udpDnat?: { port: number; portEnd?: number; rule: string; netns: string; family?: 6 }[];
}

export interface LabState {
  lab: string;
  namespaces: Record<string, NamespaceState>;
  hostLinks: Record<string, HostLinkState>;
  /** sysctl key → value. */
  sysctls: Record<string, string>;
  /** Absolute path → content (the per-container /etc files). */
  files: Record<string, string>;
  /** Desired only: a file's content as pieces, where it is mostly slices of a text shared by many (etcfiles.ts). */
  filePieces?: Record<string, TextPiece[]>;
  /** Observed only: the lab's /etc/netns/<netns> folders, so that an empty one left by an interrupted run goes too. */
  etcDirs?: string[];
  /**
   * Observed only: empty files in /run/netns with the lab's names and no namespace bound on them,
   * left by a run killed between making the file and binding the namespace.
   */
  unboundNetns?: string[];
  /** Path of the persistent UTS namespace → host name. */
  uts: Record<string, string>;
  /** Path of the persistent mount namespace → what it holds. */
  mnts: Record<string, MntState>;
  firewall?: FirewallState;
  /** Open vSwitch bridges by name (absent when the lab uses none and none is found). */
  ovs?: Record<string, OvsBridgeState>;
  /** Observed: the lab's rules in the backend it does not use now (left by a switch of `firewall:`). */
  otherFirewall?: FirewallState;
  /** By container name. */
  processes: Record<string, ProcessState & { spec?: ProcessSpec; ns: string; uts: string; mnt: string; dir: string; log: string }>;
}

export function emptyState(lab: string): LabState {
  return { lab, namespaces: {}, hostLinks: {}, sysctls: {}, files: {}, uts: {}, mnts: {}, processes: {} };
}
