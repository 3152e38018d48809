/**
 * What `netlab doctor` looks at on the host: programs on PATH, kernel features, sysctls,
 * other network managers. Reads only; the one thing it creates is a scratch network namespace
 * (as root) in which it tries each link type, removed before it returns.
 */
import { access, constants, readdir, readlink } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { readFile } from 'node:fs/promises';
import { readSysctl } from './host.js';
import { run } from './run.js';
import { ovsDbSocket } from './ovs.js';
import { ABSENT, GONE, ifErrno, onErrno } from './errno.js';

export type FeatureName = 'netns' | 'veth' | 'bridge' | 'vxlan' | 'nf_tables' | 'br_netfilter' | 'sch_tbf' | 'sch_netem';
export type FeatureState = 'works' | 'available' | 'missing' | 'unknown';

export interface HostFacts {
  root: boolean;
  /** Program name → absolute path on PATH, or undefined. */
  programs: Record<string, string | undefined>;
  /** `iptables -V`: "nf_tables" or "legacy". */
  iptablesVariant?: string;
  features: Record<FeatureName, { state: FeatureState; how: string }>;
  ipForward?: string;
  bridgeNfCallIptables?: string;
  docker: { running: boolean; evidence: string[] };
  firewalld: { running: boolean };
  /** IPv6: the kernel has it (/proc/sys/net/ipv6), and ip6tables works in a scratch namespace (undefined: not tried). */
  ipv6?: { kernel: boolean; ip6tables?: boolean };
  /** Open vSwitch: whether its database answers at the tools' socket ($OVS_RUNDIR or /var/run/openvswitch). */
  ovs?: { running: boolean; socket: string };
}

export const PROGRAMS = [
  'ip',
  'iptables',
  'iptables-save',
  'iptables-restore',
  'nft',
  'nsenter',
  'unshare',
  'setsid',
  'ovs-vsctl',
  'ovs-ofctl',
  'ovsdb-server',
  'ovs-vswitchd',
  'curl',
  'conntrack',
  'tc',
] as const;

export async function onPath(program: string, path = process.env.PATH ?? ''): Promise<string | undefined> {
  for (const dir of path.split(':').filter(Boolean)) {
    const file = join(dir, program);
    try {
      await access(file, constants.X_OK);
      return file;
    } catch (e) {
      ifErrno(e, [...ABSENT, 'EACCES', 'ENOTDIR'], undefined); // not here, or not runnable
    }
  }
  return undefined;
}

const FEATURE_CONFIG: Record<FeatureName, string> = {
  netns: 'CONFIG_NET_NS',
  veth: 'CONFIG_VETH',
  bridge: 'CONFIG_BRIDGE',
  vxlan: 'CONFIG_VXLAN',
  nf_tables: 'CONFIG_NF_TABLES',
  br_netfilter: 'CONFIG_BRIDGE_NETFILTER',
  sch_tbf: 'CONFIG_NET_SCH_TBF',
  sch_netem: 'CONFIG_NET_SCH_NETEM',
};

/** `y` built in, `m` a module, undefined when the kernel's config cannot be read. */
async function kernelConfig(): Promise<Map<string, string> | undefined> {
  try {
    const text = gunzipSync(await readFile('/proc/config.gz')).toString('utf8');
    return new Map(
      text
        .split('\n')
        .filter((l) => l.startsWith('CONFIG_'))
        .map((l) => l.split('=') as [string, string]),
    );
  } catch (e) {
    // A kernel built without CONFIG_IKCONFIG_PROC.
    return ifErrno(e, ABSENT, undefined);
  }
}

/** As root: creates each kind of object in a scratch namespace, the surest test there is. */
async function tryInScratchNamespace(programs: HostFacts['programs']): Promise<Partial<Record<FeatureName | 'ip6tables', boolean>>> {
  const ns = `nldoctor-${randomBytes(3).toString('hex')}`;
  const out: Partial<Record<FeatureName | 'ip6tables', boolean>> = {};
  const ip = (...args: string[]) => run('ip', ['-n', ns, ...args], { allowFail: true }).then((r) => r.exitCode === 0);
  if (!(out.netns = (await run('ip', ['netns', 'add', ns], { allowFail: true })).exitCode === 0)) return out;
  try {
    out.veth = await ip('link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1');
    out.bridge = await ip('link', 'add', 'd2', 'type', 'bridge');
    out.vxlan = await ip('link', 'add', 'd3', 'type', 'vxlan', 'id', '42', 'dstport', '4789', 'local', '127.0.0.1');
    // The qdiscs of `impair:` (rate: tbf; delay, jitter, loss: netem), on the veth made above.
    if (out.veth && programs.tc) {
      const tc = (...args: string[]) => run('tc', ['-n', ns, 'qdisc', 'add', ...args], { allowFail: true }).then((r) => r.exitCode === 0);
      out.sch_tbf = await tc('dev', 'd0', 'root', 'tbf', 'rate', '10mbit', 'burst', '16384', 'latency', '50ms');
      out.sch_netem = await tc('dev', 'd1', 'root', 'netem', 'delay', '1ms');
    }
    if (programs.nft) out.nf_tables = (await run('ip', ['netns', 'exec', ns, 'nft', 'add', 'table', 'inet', 'nldoctor'], { allowFail: true })).exitCode === 0;
    if (existsSync('/proc/sys/net/ipv6')) out.ip6tables = (await run('ip', ['netns', 'exec', ns, 'ip6tables', '-w', '-t', 'nat', '-S'], { allowFail: true })).exitCode === 0;
  } finally {
    await run('ip', ['netns', 'del', ns], { allowFail: true });
  }
  return out;
}

export async function probeHost(): Promise<HostFacts> {
  const root = process.getuid?.() === 0;
  const found = await Promise.all(PROGRAMS.map((p) => onPath(p)));
  const programs: HostFacts['programs'] = Object.fromEntries(PROGRAMS.map((p, i) => [p, found[i]]));
  const iptablesVariant = programs.iptables ? /\((\w+)\)/.exec((await run('iptables', ['-V'], { allowFail: true })).stdout)?.[1] : undefined;

  const config = await kernelConfig();
  const tried = root && programs.ip ? await tryInScratchNamespace(programs) : {};
  const features = {} as HostFacts['features'];
  for (const f of Object.keys(FEATURE_CONFIG) as FeatureName[]) {
    const conf = config?.get(FEATURE_CONFIG[f]);
    const loaded = existsSync(`/sys/module/${f}`);
    if (f === 'br_netfilter') {
      // Loaded or not is what matters: it changes how bridged traffic meets iptables.
      const on = existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables');
      features[f] = on
        ? { state: 'works', how: 'loaded (/proc/sys/net/bridge exists)' }
        : conf
          ? { state: 'available', how: `not loaded; kernel config ${FEATURE_CONFIG[f]}=${conf}` }
          : { state: 'missing', how: 'not loaded' };
    } else if (tried[f] !== undefined) {
      features[f] = tried[f] ? { state: 'works', how: 'created one in a scratch namespace' } : { state: 'missing', how: 'creating one in a scratch namespace failed' };
    } else if (loaded || conf === 'y') {
      features[f] = { state: 'works', how: loaded ? `module ${f} loaded` : `built into the kernel (${FEATURE_CONFIG[f]}=y)` };
    } else if (conf === 'm') {
      features[f] = { state: 'available', how: `a module (${FEATURE_CONFIG[f]}=m), loaded on first use` };
    } else {
      features[f] = { state: config ? 'missing' : 'unknown', how: config ? `${FEATURE_CONFIG[f]} is not set` : 'run as root to test it' };
    }
  }

  return {
    root,
    programs,
    iptablesVariant,
    features,
    ipForward: await readSysctl('net.ipv4.ip_forward'),
    bridgeNfCallIptables: await readSysctl('net.bridge.bridge-nf-call-iptables'),
    docker: await dockerEvidence(),
    firewalld: { running: (await processNames()).has('firewalld') },
    ovs: { running: existsSync(ovsDbSocket()), socket: ovsDbSocket() },
    ipv6: { kernel: existsSync('/proc/sys/net/ipv6'), ...(tried.ip6tables !== undefined ? { ip6tables: tried.ip6tables } : {}) },
  };
}

async function dockerEvidence(): Promise<{ running: boolean; evidence: string[] }> {
  const evidence: string[] = [];
  if (existsSync('/var/run/docker.sock')) evidence.push('/var/run/docker.sock');
  if (existsSync('/sys/class/net/docker0')) evidence.push('bridge docker0');
  if ((await processNames()).has('dockerd')) evidence.push('process dockerd');
  return { running: evidence.length > 0, evidence };
}

let names: Promise<Set<string>> | undefined;
/** Names of the programs running on the host (from /proc/<pid>/exe or comm). */
function processNames(): Promise<Set<string>> {
  names ??= (async () => {
    const out = new Set<string>();
    for (const pid of (await readdir('/proc')).filter((e) => /^\d+$/.test(e))) {
      const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(onErrno(GONE, ''));
      if (comm) out.add(comm.trim());
      const exe = await readlink(`/proc/${pid}/exe`).catch(onErrno(GONE, ''));
      if (exe) out.add(exe.split('/').pop()!);
    }
    return out;
  })();
  return names;
}
