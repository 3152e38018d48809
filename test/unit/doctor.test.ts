/** doctor: what a host's facts and a topology's needs make of each check (pure). */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseTopology, DEMO_FILE } from '../../src/topology/load.js';
import { judge, topologyNeeds, type Needs } from '../../src/engine/doctor.js';
import type { HostFacts } from '../../src/kernel/probe.js';
import { MULTIHOST_FILE } from '../helpers/labs.js';

const facts = (over: Partial<HostFacts> = {}): HostFacts => ({
  root: true,
  programs: {
    ip: '/usr/sbin/ip',
    iptables: '/usr/sbin/iptables',
    'iptables-save': '/x',
    'iptables-restore': '/x',
    nft: '/x',
    nsenter: '/x',
    unshare: '/x',
    setsid: '/x',
    'ovs-vsctl': undefined,
    'ovs-ofctl': undefined,
    'ovsdb-server': undefined,
    'ovs-vswitchd': undefined,
    curl: '/x',
    conntrack: '/x',
  },
  iptablesVariant: 'nf_tables',
  features: {
    netns: { state: 'works', how: '' },
    veth: { state: 'works', how: '' },
    bridge: { state: 'works', how: '' },
    vxlan: { state: 'available', how: '' },
    nf_tables: { state: 'works', how: '' },
    br_netfilter: { state: 'missing', how: 'not loaded' },
    sch_tbf: { state: 'works', how: '' },
    sch_netem: { state: 'missing', how: '' },
  },
  ipForward: '0',
  docker: { running: false, evidence: [] },
  firewalld: { running: false },
  ...over,
});
const needs = (over: Partial<Needs> = {}): Needs => ({ firewall: 'iptables', ovs: false, vxlan: false, iccOff: false, subnets: { id: 'subnets', status: 'ok', message: '' }, ...over });

describe('doctor', () => {
  it('passes a host with everything, where optional things may be missing', () => {
    const r = judge(facts(), needs());
    expect(r.ok).toBe(true);
    expect(r.checks.find((c) => c.id === 'program:ovs-vsctl')?.status).toBe('warn');
  });

  it('fails on a missing program, with the package that provides it', () => {
    const r = judge(facts({ programs: { ...facts().programs, 'iptables-restore': undefined } }), needs());
    expect(r.ok).toBe(false);
    expect(r.checks.find((c) => c.id === 'program:iptables-restore')).toMatchObject({ status: 'fail', fix: 'apt-get install iptables' });
  });

  it('needs iptables-restore for an nftables lab too: its bridges go into the shared iptables isolation chains', () => {
    const r = judge(facts({ programs: { ...facts().programs, 'iptables-restore': undefined } }), needs({ firewall: 'nftables' }));
    expect(r.checks.find((c) => c.id === 'program:iptables-restore')).toMatchObject({ status: 'fail', fix: 'apt-get install iptables' });
  });

  it('needs ovs-vsctl only when the topology uses Open vSwitch, br_netfilter only with icc: false', () => {
    expect(judge(facts(), needs({ ovs: true })).checks.find((c) => c.id === 'program:ovs-vsctl')).toMatchObject({ status: 'fail', fix: 'apt-get install openvswitch-switch' });
    const icc = judge(facts(), needs({ iccOff: true }));
    expect(icc.checks.find((c) => c.id === 'kernel:br_netfilter')).toMatchObject({ status: 'fail', fix: 'modprobe br_netfilter' });
  });

  it('checks all of Open vSwitch for a file with an OVS network, naming openvswitch-switch, and whether it runs', () => {
    const topo = parseTopology(readFileSync(MULTIHOST_FILE, 'utf8'), { source: 'examples/multihost.yaml', defaultName: 'multihost' });
    expect(topologyNeeds(topo)).toMatchObject({ ovs: true, vxlan: true });
    expect(topologyNeeds(parseTopology(readFileSync(DEMO_FILE, 'utf8'), { source: '<demo>', defaultName: 'demo' }))).toMatchObject({ ovs: false, vxlan: false });
    const r = judge(facts({ ovs: { running: false, socket: '/var/run/openvswitch/db.sock' } }), needs(topologyNeeds(topo)));
    expect(r.ok).toBe(false);
    for (const p of ['ovs-vsctl', 'ovs-ofctl', 'ovsdb-server', 'ovs-vswitchd'])
      expect(r.checks.find((c) => c.id === `program:${p}`)).toMatchObject({ status: 'fail', fix: 'apt-get install openvswitch-switch' });
    expect(r.checks.find((c) => c.id === 'ovs:running')).toMatchObject({ status: 'warn', fix: expect.stringContaining('systemctl start openvswitch-switch') });
    expect(r.checks.find((c) => c.id === 'kernel:vxlan')?.status).toBe('ok');
    // Everything there and running: nothing about Open vSwitch fails or warns.
    const all = Object.fromEntries(Object.keys(facts().programs).map((p) => [p, `/usr/bin/${p}`]));
    const fine = judge(facts({ programs: all, ovs: { running: true, socket: '/var/run/openvswitch/db.sock' } }), needs(topologyNeeds(topo)));
    expect(fine.checks.filter((c) => c.id.includes('ovs') && c.status !== 'ok')).toEqual([]);
  });

  it('tells how netlab coexists with Docker and firewalld, and fails without root', () => {
    const r = judge(facts({ root: false, docker: { running: true, evidence: ['bridge docker0'] }, firewalld: { running: true } }), needs());
    expect(r.ok).toBe(false);
    expect(r.checks.find((c) => c.id === 'root')?.fix).toBe('sudo netlab doctor');
    expect(r.checks.find((c) => c.id === 'coexist:docker')?.message).toContain('own chains');
    expect(r.checks.find((c) => c.id === 'coexist:firewalld')?.fix).toContain('trusted');
  });
});
