/** What observe() is asked, and the reading it fills as it goes (observe.ts, observe-containers.ts). */
import { emptyState, type FirewallState, type LabState } from '../plan/state.js';
import type { observeIptables } from './iptables.js';
import type { IpLink } from './linkview.js';
import type { Stamps } from './stamps.js';

export interface ObserveInput {
  lab: string;
  /** The host whose share this is, in a multi-host lab: other hosts' containers are not its own. */
  host?: string;
  /**
   * `share` (default): a host's share of a lab. `underlay`: the simulated machines of `--simulate`
   * (their namespaces and the links joining them), nothing else.
   */
  scope?: 'share' | 'underlay';
  /** Everything the lab wants, so objects with those names are looked at even without a mark. */
  want: LabState;
  /** What the lab's state file recorded; absent when it has none (the lab is not known to be up). */
  last?: LastRun;
  /** Read the tc qdiscs of the lab's namespaces (default: when `want` impairs an interface). */
  qdiscs?: boolean;
  /** What the caller has read already or can vouch for: observe then reads less, and finds the same. */
  hints?: ObserveHints;
}

/** The last run, as its state file has it. With one, the lab is known to be up: its flushed chains are still its own. */
export interface LastRun {
  /** Names the last `up` was about to create: ours even when a crash came before the mark. */
  planned: { netns: string[]; links: string[] };
  /** Recorded spec hash and pid of each container's process. */
  started: Record<string, { pid: number; specHash: string }>;
}

/** Speed hints: each one left out is read here instead. */
export interface ObserveHints {
  /** Stamps of the /etc files from the last run: a file whose stamp holds is not read again. */
  stamps?: Stamps;
  /** The lab is the one the stamps were taken for: what it wants of each file is what it wanted then. */
  sameWant?: boolean;
  /** The firewall reads, when the caller started them early (readFirewalls). */
  firewallReads?: FirewallReads;
  /** The host's links as `backend.readHost()` gives them, when the caller has just read them (one read, not two). */
  hostLinks?: IpLink[];
}

export type FirewallReads = Promise<[Awaited<ReturnType<typeof observeIptables>>, FirewallState]>;

/** One observe() call: what it is asked, and the state and the list of foreign objects it fills. */
export interface Reading {
  lab: string;
  host: string | undefined;
  want: LabState;
  underlay: boolean;
  planned: { netns: Set<string>; links: Set<string> };
  started: LastRun['started'];
  s: LabState;
  foreign: string[];
}

export function startReading(input: ObserveInput): Reading {
  const planned = input.last?.planned ?? { netns: [], links: [] };
  return {
    lab: input.lab,
    host: input.host,
    want: input.want,
    underlay: input.scope === 'underlay',
    planned: { netns: new Set(planned.netns), links: new Set(planned.links) },
    started: input.last?.started ?? {},
    s: emptyState(input.lab),
    foreign: [],
  };
}
