/** Lab → the kernel state it needs (pure). */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Lab } from '../model/lab.js';
import { mark } from '../model/names.js';
import { formatIp } from '../model/ipv4.js';
import { labRuleset } from '../model/firewall.js';
import { chainOf, renderIptables, ruleText } from '../model/iptables-rules.js';
import { nftRuleText, renderNft } from '../model/nft-rules.js';
import { etcNetnsDir, logPath, utsPath } from '../paths.js';
import { emptyState, type LabState, type ProcessSpec } from './state.js';

export interface DesiredOptions {
  /** How to run netlab itself, for commands that start with `netlab` (the built-in server). */
  selfArgv: string[];
}

export function desiredState(lab: Lab, opts: DesiredOptions): LabState {
  const s = emptyState(lab.name);
  s.sysctls['net.ipv4.ip_forward'] = '1';
  // Bridged traffic must pass the firewall: icc false and the link rules, hairpin NAT and the
  // isolation of networks do nothing without it (moby#12071). Docker sets it too whenever its
  // userland proxy is off, which is netlab's only mode. Needs br_netfilter loaded.
  if (lab.networks.length > 0) s.sysctls['net.bridge.bridge-nf-call-iptables'] = '1';
  for (const net of lab.networks) {
    s.hostLinks[net.bridge] = {
      kind: 'bridge',
      alias: mark.bridge(lab.name, net.name),
      mtu: net.mtu,
      up: true,
      addrs: [`${formatIp(net.gateway)}/${net.subnet.prefix}`],
    };
    // Lets DNAT from the host's 127.0.0.1 leave through the bridge (`curl localhost:8080`).
    s.sysctls[`net.ipv4.conf.${net.bridge}.route_localnet`] = '1';
  }
  for (const c of lab.containers) {
    const internal = new Set(lab.networks.filter((n) => n.internal).map((n) => n.name));
    const routed = c.interfaces.find((i) => !internal.has(i.network));
    s.namespaces[c.netns] = {
      mark: mark.netns(lab.name, c.name),
      loUp: true,
      ifaces: Object.fromEntries(c.interfaces.map((i) => [i.ifname, { mac: i.mac, mtu: i.mtu, up: true, addrs: [`${i.ip}/${i.prefix}`] }])),
      routes: routed ? [`default via ${routed.gateway} dev ${routed.ifname}`] : [],
    };
    for (const i of c.interfaces) {
      s.hostLinks[i.hostVeth] = {
        kind: 'veth',
        alias: mark.veth(lab.name, c.name, i.network),
        mtu: i.mtu,
        up: true,
        master: i.bridge,
        // With bridge-nf-call-iptables, a DNATed packet goes back out the port it came in on.
        hairpin: true,
        addrs: [],
        peer: { ns: c.netns, name: i.ifname, mac: i.mac },
      };
    }
    const etc = etcNetnsDir(c.netns);
    s.files[join(etc, 'hosts')] = c.files.hosts;
    s.files[join(etc, 'resolv.conf')] = c.files.resolv;
    s.files[join(etc, 'hostname')] = c.files.hostname;
    const uts = utsPath(lab.name, c.name);
    s.uts[uts] = c.hostname;
    if (c.command !== undefined) {
      const spec = processSpec(c.command, [['HOSTNAME', c.hostname], ...c.env], opts.selfArgv);
      s.processes[c.name] = { running: true, pids: [], spec, specHash: specHash(spec), ns: c.netns, uts, log: logPath(lab.name, c.name) };
    }
  }
  const rs = labRuleset(lab);
  const text = lab.firewall === 'nftables' ? (r: typeof rs.chains.dnat[number]) => nftRuleText(lab.name, r) : (r: typeof rs.chains.dnat[number]) => ruleText(lab.name, r);
  // The DNAT rule as the backend lists it in FirewallState.rules, to tell a new one from an old one.
  const dnatChain = lab.firewall === 'nftables' ? chainOf(lab.name, 'dnat') : `-A ${chainOf(lab.name, 'dnat')}`;
  const udpDnat = rs.chains.dnat
    .filter((r) => r.proto === 'udp' && r.dport !== undefined)
    .map((r) => ({ port: r.dport!, rule: `${dnatChain} ${text(r)}`, netns: lab.containers.find((c) => c.ports.some((p) => p.proto === 'udp' && p.hostPort === r.dport))!.netns }));
  s.firewall = lab.firewall === 'nftables' ? { backend: 'nftables', tables: renderNft(rs) } : { backend: 'iptables', tables: renderIptables(rs).tables };
  if (udpDnat.length > 0) s.firewall.udpDnat = udpDnat;
  return s;
}

/** A string is Docker's shell form (`sh -c`); `netlab ...` runs this very netlab. */
export function processSpec(command: string | string[], env: [string, string][], selfArgv: string[]): ProcessSpec {
  const argv = typeof command === 'string' ? ['/bin/sh', '-c', command] : command[0] === 'netlab' ? [...selfArgv, ...command.slice(1)] : [...command];
  return { argv, env };
}

export function specHash(spec: ProcessSpec): string {
  return createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 16);
}
