/**
 * `doctor`: checks what netlab needs on this host and says how to fix each miss. The facts
 * come from kernel/probe.ts; judging them (`judge`) is pure, so every verdict is unit-tested.
 */
import { needsNetem, type Impairment } from '../model/impair.js';
import { loadTopology, type LoadOptions } from '../topology/load.js';
import type { Topology } from '../topology/types.js';
import { resolveLab, SubnetTakenError } from '../model/lab.js';
import { PoolExhaustedError } from '../model/ipam.js';
import { subnetsText } from '../model/lab6.js';
import { probeHost, type FeatureName, type HostFacts } from '../kernel/probe.js';
import { gatherContext } from './context.js';
import { loadState } from './state.js';
import { NetlabError } from '../errors.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  id: string;
  status: CheckStatus;
  /** What was found, in one line. */
  message: string;
  /** How to fix it, when it needs fixing (a command where there is one). */
  fix?: string;
}

export interface DoctorReport {
  ok: boolean;
  checks: Check[];
}

/** The Debian/Ubuntu package that provides each program. */
export const PACKAGE_OF: Record<string, string> = {
  ip: 'iproute2',
  iptables: 'iptables',
  'iptables-save': 'iptables',
  'iptables-restore': 'iptables',
  nft: 'nftables',
  nsenter: 'util-linux',
  unshare: 'util-linux',
  setsid: 'util-linux',
  // openvswitch-switch brings openvswitch-common (ovs-ofctl, ovsdb-server) with it.
  'ovs-vsctl': 'openvswitch-switch',
  'ovs-ofctl': 'openvswitch-switch',
  'ovsdb-server': 'openvswitch-switch',
  'ovs-vswitchd': 'openvswitch-switch',
  curl: 'curl',
  conntrack: 'conntrack',
  tc: 'iproute2',
};

/** What the topology asks of the host beyond the basics. */
export interface Needs {
  firewall: 'iptables' | 'nftables';
  ovs: boolean;
  vxlan: boolean;
  /** A network with icc: false needs br_netfilter. */
  iccOff: boolean;
  /** A network with `ipv6: true` needs the kernel's IPv6 and ip6tables (or nft's inet family). */
  ipv6?: boolean;
  /** An interface with a rate (tbf) or with delay, jitter or loss (netem). */
  tbf?: boolean;
  netem?: boolean;
  /** The subnet check's verdict, computed against the host's routes. */
  subnets: Check;
}

const WHY: Record<string, string> = {
  ip: 'namespaces, links, addresses, routes',
  iptables: 'the lab firewall (NAT, published ports)',
  'iptables-save': 'reading the lab firewall back',
  'iptables-restore': 'writing the lab firewall in one transaction (with nftables: the isolation from labs on iptables)',
  nft: 'the nftables firewall backend',
  nsenter: 'entering a container (exec, hostnames)',
  unshare: "containers' own hostnames (UTS namespaces)",
  setsid: 'running a container command detached',
  'ovs-vsctl': 'Open vSwitch bridges and their VXLAN ports',
  'ovs-ofctl': "the flows of netlab's Open vSwitch bridges",
  'ovsdb-server': "Open vSwitch's configuration database (a simulated host runs its own)",
  'ovs-vswitchd': 'the Open vSwitch switch itself (a simulated host runs its own)',
  curl: 'the tutorial and the README examples',
  conntrack: 'the tutorial (conntrack -L) and clearing UDP flows',
  tc: 'link impairments (impair:, netlab impair)',
};

const FEATURE_WHY: Record<FeatureName, string> = {
  netns: 'network namespaces: every container is one',
  veth: 'veth pairs: the cable between a container and its bridge',
  bridge: 'Linux bridges: what docker0 is',
  vxlan: 'VXLAN: overlay networks across hosts',
  nf_tables: 'nf_tables: the kernel side of nft and of iptables-nft',
  br_netfilter: 'br_netfilter: bridged traffic through iptables (needed for icc: false)',
  sch_tbf: 'tbf qdisc: the rate of impair: (tc)',
  sch_netem: 'netem qdisc: the delay, jitter and loss of impair: (tc; without it "netlab up" refuses them)',
};

export function judge(facts: HostFacts, needs: Needs): DoctorReport {
  const checks: Check[] = [
    rootCheck(facts),
    ...programChecks(facts, needs),
    ...featureChecks(facts, needs),
    ...ipv6Checks(facts, needs),
    forwardCheck(facts),
    ...coexistChecks(facts),
    ...setupChecks(facts, needs),
    needs.subnets,
  ];
  return { ok: checks.every((c) => c.status !== 'fail'), checks };
}

function rootCheck(facts: HostFacts): Check {
  return facts.root
    ? { id: 'root', status: 'ok', message: 'running as root' }
    : { id: 'root', status: 'fail', message: 'not root: up, down, exec and the kernel checks need root', fix: 'sudo netlab doctor' };
}

/** The programs netlab runs: a missing one this topology needs fails, another only warns. */
function programChecks(facts: HostFacts, needs: Needs): Check[] {
  const required = new Set(['ip', 'nsenter', 'unshare', 'setsid']);
  // An nftables lab reads iptables too, and lists its bridges in iptables' shared isolation chains.
  for (const p of ['iptables', 'iptables-save', 'iptables-restore']) required.add(p);
  if (needs.firewall === 'nftables') required.add('nft');
  if (needs.ovs) for (const p of ['ovs-vsctl', 'ovs-ofctl', 'ovsdb-server', 'ovs-vswitchd']) required.add(p);
  return Object.entries(facts.programs).map(([program, path]): Check => {
    const need = required.has(program);
    const variant = program === 'iptables' && facts.iptablesVariant ? ` (${facts.iptablesVariant})` : '';
    if (path) return { id: `program:${program}`, status: 'ok', message: `${program}: ${path}${variant}, for ${WHY[program]}` };
    return {
      id: `program:${program}`,
      status: need ? 'fail' : 'warn',
      message: `${program} is not on PATH${need ? '' : ' (optional)'}: needed for ${WHY[program]}`,
      fix: `apt-get install ${PACKAGE_OF[program]}`,
    };
  });
}

/** The kernel features: a missing one this topology needs fails, another only warns. */
function featureChecks(facts: HostFacts, needs: Needs): Check[] {
  return (Object.entries(facts.features) as [FeatureName, HostFacts['features'][FeatureName]][]).map(([f, v]): Check => {
    const need =
      f === 'netns' ||
      f === 'veth' ||
      f === 'bridge' ||
      (f === 'vxlan' && needs.vxlan) ||
      (f === 'nf_tables' && (needs.firewall === 'nftables' || facts.iptablesVariant === 'nf_tables')) ||
      (f === 'br_netfilter' && needs.iccOff) ||
      (f === 'sch_tbf' && !!needs.tbf) ||
      (f === 'sch_netem' && !!needs.netem);
    const fix =
      f === 'br_netfilter'
        ? 'modprobe br_netfilter'
        : `modprobe ${f === 'netns' ? '(none: the kernel lacks CONFIG_NET_NS; use a stock distribution kernel)' : f}; if it is not found: apt-get install linux-modules-extra-$(uname -r)`;
    if (v.state === 'works' || v.state === 'available') return { id: `kernel:${f}`, status: 'ok', message: `${FEATURE_WHY[f]}: ${v.how}` };
    return { id: `kernel:${f}`, status: need && v.state === 'missing' ? 'fail' : 'warn', message: `${FEATURE_WHY[f]}: ${v.how}`, fix };
  });
}

function forwardCheck(facts: HostFacts): Check {
  return facts.ipForward === '1'
    ? { id: 'sysctl:ip_forward', status: 'ok', message: 'net.ipv4.ip_forward=1' }
    : { id: 'sysctl:ip_forward', status: 'ok', message: `net.ipv4.ip_forward=${facts.ipForward ?? '?'}: netlab up sets it to 1, as Docker does (netlab never changes the FORWARD policy)` };
}

/** Docker and firewalld on the same host: how netlab lives beside them. */
function coexistChecks(facts: HostFacts): Check[] {
  const checks: Check[] = [];
  if (facts.docker.running) {
    checks.push({
      id: 'coexist:docker',
      status: 'ok',
      message: `Docker is on this host (${facts.docker.evidence.join(', ')}): netlab keeps to its own chains NL-<lab>-* and its jumps come first in the built-in chains, so Docker's FORWARD policy DROP does not block labs; netlab's subnet pool avoids docker0's route, and a topology subnet that overlaps it is refused`,
    });
  }
  if (facts.firewalld.running) {
    checks.push({
      id: 'coexist:firewalld',
      status: 'warn',
      message: 'firewalld runs on this host: a "firewall-cmd --reload" (iptables backend) drops rules it does not know, and its zones may reject traffic forwarded to a lab bridge',
      fix: 'after a reload run "netlab up" again (it restores exactly what is missing); put lab bridges in the trusted zone: firewall-cmd --zone=trusted --add-interface=<bridge>',
    });
  }
  return checks;
}

/** What this topology needs of the host beyond programs and modules: bridged traffic through iptables, a running Open vSwitch. */
function setupChecks(facts: HostFacts, needs: Needs): Check[] {
  const checks: Check[] = [];
  if (needs.iccOff && facts.bridgeNfCallIptables !== '1') {
    checks.push({
      id: 'sysctl:bridge-nf-call-iptables',
      status: 'warn',
      message: 'a network has icc: false, which needs bridged traffic to pass iptables',
      fix: 'modprobe -q br_netfilter || true; sysctl -w net.bridge.bridge-nf-call-iptables=1',
    });
  }
  if (needs.ovs && facts.ovs && !facts.ovs.running) {
    checks.push({
      id: 'ovs:running',
      status: 'warn',
      message: `a network uses Open vSwitch, and no Open vSwitch answers here (${facts.ovs.socket} is missing): "netlab up" on this host needs its daemons; "netlab up --simulate" starts its own per simulated host`,
      fix: 'systemctl start openvswitch-switch (after apt-get install openvswitch-switch)',
    });
  }
  return checks;
}

/** Would the topology's subnets collide with the host's routes, addresses or another lab? */
async function subnetCheck(topo: Topology): Promise<Check> {
  const prev = (await loadState(topo.name)).state;
  const ctx = await gatherContext(topo.name, prev?.allocation);
  try {
    const lab = resolveLab(topo, ctx);
    return {
      id: 'subnets',
      status: 'ok',
      message: `lab ${lab.name}: ${lab.networks.map((n) => `${n.name} ${subnetsText(n)}${n.subnet === topo.networks.find((t) => t.name === n.name)?.subnet ? '' : ' (picked)'}`).join(', ')} collide with no route or address of the host and no other lab`,
    };
  } catch (e) {
    if (e instanceof SubnetTakenError) return { id: 'subnets', status: 'fail', message: e.message, fix: `give ${e.path} a free subnet in ${topo.source}, or remove it and netlab picks a free one` };
    if (e instanceof PoolExhaustedError) return { id: 'subnets', status: 'fail', message: e.message, fix: `give the networks of ${topo.source} explicit subnets that no host route uses` };
    throw e;
  }
}

/** The kernel's IPv6 and ip6tables: a failure only when a network of the topology has `ipv6: true`. */
export function ipv6Checks(facts: HostFacts, needs: Pick<Needs, 'ipv6' | 'firewall'>): Check[] {
  const v6 = facts.ipv6;
  if (!v6) return [];
  const miss = needs.ipv6 ? ('fail' as const) : ('warn' as const);
  const checks: Check[] = [
    v6.kernel
      ? { id: 'kernel:ipv6', status: 'ok', message: 'IPv6: the kernel has it (/proc/sys/net/ipv6), for networks with "ipv6: true"' }
      : {
          id: 'kernel:ipv6',
          status: miss,
          message: 'IPv6: the kernel has none (/proc/sys/net/ipv6 is missing): networks with "ipv6: true" cannot work',
          fix: 'boot without ipv6.disable=1 on the kernel command line',
        },
  ];
  if (v6.kernel && v6.ip6tables !== undefined && needs.firewall === 'iptables')
    checks.push(
      v6.ip6tables
        ? { id: 'firewall:ip6tables', status: 'ok', message: 'ip6tables works (made its nat table in a scratch namespace): the IPv6 rules of the iptables backend' }
        : {
            id: 'firewall:ip6tables',
            status: miss,
            message: 'ip6tables failed in a scratch namespace: the IPv6 rules of the iptables backend cannot be made',
            fix: 'apt-get install iptables; modprobe ip6table_nat',
          },
    );
  return checks;
}

/** What a topology asks of the host (the basics alone without one). */
export function topologyNeeds(topo: Topology | undefined): Omit<Needs, 'subnets'> {
  return {
    firewall: topo?.firewall ?? 'iptables',
    ovs: topo?.networks.some((n) => n.driver === 'ovs') ?? false,
    // Open vSwitch makes its own VXLAN ports; a Linux bridge network needs the kernel's vxlan device.
    vxlan: topo?.networks.some((n) => n.driver !== 'ovs' && n.vxlan !== undefined) ?? false,
    iccOff: topo?.networks.some((n) => !n.icc) ?? false,
    ipv6: topo?.networks.some((n) => n.enableIpv6) ?? false,
    tbf: impairs(topo, (i) => i.rateBit !== undefined),
    netem: impairs(topo, needsNetem),
  };
}

const impairs = (topo: Topology | undefined, test: (i: Impairment) => boolean) => !!topo?.containers.some((c) => Object.values(c.impair ?? {}).some((s) => test(s.impair)));

export async function doctor(opts: LoadOptions = {}): Promise<DoctorReport> {
  let topo: Topology | undefined;
  let topoCheck: Check | undefined;
  try {
    topo = loadTopology(opts);
  } catch (e) {
    if (!(e instanceof NetlabError)) throw e;
    topoCheck = { id: 'topology', status: 'fail', message: e.message, fix: 'correct the topology file at the places named' };
  }
  const facts = await probeHost();
  const needs: Needs = {
    ...topologyNeeds(topo),
    subnets: topoCheck ?? (facts.programs.ip ? await subnetCheck(topo!) : { id: 'subnets', status: 'fail', message: 'cannot read the host routes without ip', fix: 'apt-get install iproute2' }),
  };
  return judge(facts, needs);
}
