/**
 * The kernel state of one lab, in one shape for both what netlab wants (desired.ts) and what
 * the host has (kernel/observe.ts), so that planning is a plain comparison (diff.ts).
 */

export interface HostLinkState {
  kind: 'bridge' | 'veth' | 'other';
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
}

export interface IfaceState {
  mac: string;
  mtu: number;
  up: boolean;
  addrs: string[];
}

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
}

export interface ProcessState {
  running: boolean;
  pids: number[];
  /** Hash of argv + env of what was started (from the state file), to restart on change. */
  specHash?: string;
}

export interface FirewallState {
  backend: 'iptables' | 'nftables';
  /** Canonical text per table: chains, jumps and rules, for comparison and for removal. */
  tables: Record<string, { chains: string[]; jumps: string[]; rules: string[] }>;
}

export interface LabState {
  lab: string;
  namespaces: Record<string, NamespaceState>;
  hostLinks: Record<string, HostLinkState>;
  /** sysctl key → value. */
  sysctls: Record<string, string>;
  /** Absolute path → content (the per-container /etc files). */
  files: Record<string, string>;
  /** Observed only: the lab's /etc/netns/<netns> folders, so that an empty one left by an interrupted run goes too. */
  etcDirs?: string[];
  /** Path of the persistent UTS namespace → host name. */
  uts: Record<string, string>;
  firewall?: FirewallState;
  /** By container name. */
  processes: Record<string, ProcessState & { spec?: ProcessSpec; ns: string; uts: string; log: string }>;
}

export function emptyState(lab: string): LabState {
  return { lab, namespaces: {}, hostLinks: {}, sysctls: {}, files: {}, uts: {}, processes: {} };
}
