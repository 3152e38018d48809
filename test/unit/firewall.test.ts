/**
 * The firewall as data and as text: golden files of the rendered rule sets for each Docker
 * option (as Docker keeps iptables-save goldens), for both backends, and the rules that keep
 * shared chains and another lab's rules safe.
 */
import { describe, expect, it } from 'vitest';
import { parseTopology } from '../../src/topology/load.js';
import { resolveLab } from '../../src/model/lab.js';
import { emptyHostContext } from '../helpers/context.js';
import { desiredState } from '../../src/plan/desired.js';
import { diff } from '../../src/plan/diff.js';
import { emptyState, type FirewallState } from '../../src/plan/state.js';
import { iptablesRestoreInput, moveIsolation, parseIptablesSave } from '../../src/kernel/iptables.js';
import { firewallInputs } from '../../src/kernel/firewall.js';
import { nftScript, parseNftList } from '../../src/kernel/nftables.js';
import { expectGolden } from '../helpers/golden.js';

const ctx = emptyHostContext;

function want(yaml: string, backend: 'iptables' | 'nftables', name = 'lab') {
  const topo = parseTopology(`firewall: ${backend}\n${yaml}`, { source: 'netlab.yaml', defaultName: name });
  return desiredState(resolveLab(topo, ctx), { selfArgv: ['/usr/bin/node', '/opt/netlab/cli.js'] });
}

const golden = (name: string, actual: string) => expectGolden(`firewall/${name}`, actual);

/** One lab per Docker option (combination): its topology. */
const COMBOS: Record<string, string> = {
  // docker run -p 8080:80 web
  publish: 'networks:\n  n: { bridge: nltest0, subnet: 172.31.9.0/24 }\ncontainers:\n  web: { publish: ["8080:80"] }\n',
  // -p 127.0.0.1:8081:80 -p 192.0.2.10:8082:80 -p 5353:53/udp -p 8000-8002:80-82 -p 9000-9009:80 -p 80 ; -P
  'publish-forms': `networks:\n  n: { bridge: nltest0, subnet: 172.31.9.0/24 }
containers:
  web: { publish: ["127.0.0.1:8081:80", "192.0.2.10:8082:80", "5353:53/udp", "8000-8002:80-82", "9000-9009:80", "80"] }
  all: { expose: [7000, 7001/udp], publishAll: true }
`,
  // --icc=false with --link db:database
  'icc-false-links': `networks:\n  n: { bridge: nltest0, subnet: 172.31.9.0/24, icc: false }
containers:
  db: { expose: [5432, "7000-7002"] }
  app: { links: ["db:database"] }
`,
  // docker network create --internal
  internal: 'networks:\n  n: { bridge: nltest0, subnet: 172.31.9.0/24, internal: true }\ncontainers:\n  a: {}\n',
  // --ip-masq=false
  'ip-masq-false': 'networks:\n  n: { bridge: nltest0, subnet: 172.31.9.0/24, ipMasquerade: false }\ncontainers:\n  a: { publish: ["8080:80"] }\n',
  // two networks, a container on both
  'multi-network': `networks:
  front: { bridge: nltest0, subnet: 172.31.9.0/24 }
  back: { bridge: nltest1, subnet: 172.31.10.0/24 }
containers:
  gw: { networks: [front, back], publish: ["8080:80"] }
  db: { networks: [back] }
`,
};

describe('rendered rule sets (golden)', () => {
  for (const [name, yaml] of Object.entries(COMBOS)) {
    it(`${name}: iptables-restore input`, () => golden(`${name}.iptables`, iptablesRestoreInput(want(yaml, 'iptables').firewall, undefined)));
    it(`${name}: nft -f input`, () => golden(`${name}.nft`, nftScript(want(yaml, 'nftables').firewall, undefined)));
  }

  it('gives every option the rule Docker uses for it', () => {
    const ipt = (combo: string) => iptablesRestoreInput(want(COMBOS[combo]!, 'iptables').firewall, undefined);
    expect(ipt('publish-forms')).toContain('-A NL-lab-RAW -d 127.0.0.1/32 ! -i lo -p tcp -m tcp --dport 8081 -m comment --comment "netlab:lab" -j DROP');
    expect(ipt('publish-forms')).toContain('-A NL-lab-DNAT -d 192.0.2.10/32 -p tcp -m tcp --dport 8082 -m comment --comment "netlab:lab" -j DNAT --to-destination 172.31.9.2:80');
    expect(ipt('icc-false-links')).toContain('-A NL-lab-FWD -i nltest0 -o nltest0 -m comment --comment "netlab:lab" -j DROP');
    expect(ipt('icc-false-links')).toContain('-A NL-lab-PORTS -s 172.31.9.3/32 -d 172.31.9.2/32 -i nltest0 -o nltest0 -p tcp -m tcp --dport 7000:7002 -m comment --comment "netlab:lab" -j ACCEPT');
    expect(ipt('internal')).not.toContain('-s 172.31.9.0/24 ! -o nltest0');
    expect(ipt('internal')).toContain('-A NL-lab-FWD ! -d 172.31.9.0/24 -i nltest0 -m comment --comment "netlab:lab" -j DROP');
    expect(ipt('ip-masq-false')).not.toContain('-s 172.31.9.0/24 ! -o nltest0');
    expect(ipt('multi-network')).toContain('-I NL-ISOLATION-1 1 -i nltest1 ! -o nltest1 -m comment --comment "netlab:lab" -j NL-ISOLATION-2');
    expect(ipt('multi-network')).toContain('-I NL-ISOLATION-2 1 -o nltest0 -m comment --comment "netlab:lab" -j DROP');
  });

  it('turns on bridge-nf-call-iptables, without which icc and the link rules do nothing', () => {
    expect(want(COMBOS['icc-false-links']!, 'iptables').sysctls['net.bridge.bridge-nf-call-iptables']).toBe('1');
  });
});

describe('shared chains and other labs', () => {
  const ours = want(COMBOS.publish!, 'iptables', 'a').firewall!;

  it('iptables: creates a missing shared chain with -N and never declares (flushes) it', () => {
    const fresh = iptablesRestoreInput(ours, undefined);
    expect(fresh).toContain('-N NL-ISOLATION-1\n-N NL-ISOLATION-2\n');
    expect(fresh).not.toMatch(/^:NL-ISOLATION/m);
    const existing = iptablesRestoreInput(ours, { backend: 'iptables', tables: { filter: { chains: [], jumps: [], rules: [], shared: ['NL-ISOLATION-1', 'NL-ISOLATION-2'] } } });
    expect(existing).not.toContain('-N NL-ISOLATION');
  });

  it("iptables: removing a lab keeps the shared chains while another lab's rules are in them", () => {
    const save = (withOther: boolean) => `*filter
:FORWARD ACCEPT [0:0]
:NL-ISOLATION-1 - [0:0]
:NL-ISOLATION-2 - [0:0]
:NL-a-FWD - [0:0]
-A FORWARD -m comment --comment "netlab:a" -j NL-a-FWD
${withOther ? '-A NL-ISOLATION-1 -i nlb ! -o nlb -m comment --comment "netlab:b" -j NL-ISOLATION-2\n-A NL-ISOLATION-2 -o nlb -m comment --comment "netlab:b" -j DROP\n' : ''}-A NL-ISOLATION-1 -i nla ! -o nla -m comment --comment "netlab:a" -j NL-ISOLATION-2
-A NL-ISOLATION-2 -o nla -m comment --comment "netlab:a" -j DROP
COMMIT
`;
    const have = (withOther: boolean): FirewallState => ({ backend: 'iptables', tables: { filter: parseIptablesSave('a', save(withOther)) } });
    expect(have(true).tables.filter!.others).toEqual({ 'NL-ISOLATION-1': 1, 'NL-ISOLATION-2': 1 });
    const keep = iptablesRestoreInput(undefined, have(true));
    expect(keep).toContain('-D NL-ISOLATION-1 -i nla ! -o nla -m comment --comment "netlab:a" -j NL-ISOLATION-2');
    expect(keep).not.toContain('netlab:b');
    expect(keep).not.toContain('-X NL-ISOLATION');
    expect(iptablesRestoreInput(undefined, have(false))).toContain('-X NL-ISOLATION-1\n-X NL-ISOLATION-2\n');
  });

  it('nftables: removing a lab leaves the table to another lab, and deletes it when it was the last', () => {
    const list = (withOther: boolean) => `table inet netlab { # handle 3
	chain filter-forward { # handle 1
		type filter hook forward priority filter; policy accept;
		jump NL-a-FWD comment "netlab:a" # handle 10
${withOther ? '\t\tjump NL-b-FWD comment "netlab:b" # handle 11\n' : ''}	}
	chain NL-a-FWD { # handle 2
		oifname "nla" accept comment "netlab:a" # handle 12
	}
${withOther ? '\tchain NL-b-FWD { # handle 4\n\t\toifname "nlb" accept comment "netlab:b" # handle 13\n\t}\n' : ''}}
`;
    const have = (withOther: boolean): FirewallState => ({ backend: 'nftables', tables: { 'inet netlab': parseNftList('a', list(withOther)) } });
    expect(have(true).tables['inet netlab']).toMatchObject({
      chains: ['NL-a-FWD'],
      jumps: ['filter-forward jump NL-a-FWD comment "netlab:a"'],
      rules: ['NL-a-FWD oifname "nla" accept comment "netlab:a"'],
    });
    const keep = nftScript(undefined, have(true));
    expect(keep).toBe('flush chain inet netlab NL-a-FWD\ndelete rule inet netlab filter-forward handle 10\ndelete chain inet netlab NL-a-FWD\n');
    expect(nftScript(undefined, have(false))).toMatch(/delete table inet netlab\n$/);
  });
});

describe('isolation across backends', () => {
  it('an nftables lab lists its bridges in the iptables isolation chains, with the very rules an iptables lab writes', () => {
    const nft = want(COMBOS['multi-network']!, 'nftables').firewall!;
    const ipt = want(COMBOS['multi-network']!, 'iptables').firewall!;
    expect(iptablesRestoreInput(nft, undefined)).toBe(`*filter
-N NL-ISOLATION-1
-N NL-ISOLATION-2
-I NL-ISOLATION-1 1 -i nltest0 ! -o nltest0 -m comment --comment "netlab:lab" -j NL-ISOLATION-2
-I NL-ISOLATION-2 1 -o nltest0 -m comment --comment "netlab:lab" -j DROP
-I NL-ISOLATION-1 1 -i nltest1 ! -o nltest1 -m comment --comment "netlab:lab" -j NL-ISOLATION-2
-I NL-ISOLATION-2 1 -o nltest1 -m comment --comment "netlab:lab" -j DROP
COMMIT
`);
    expect(nft.tables.filter!.jumps).toEqual(ipt.tables.filter!.jumps.filter((j) => j.startsWith('-A NL-ISOLATION-')));
    // explain and apply: the nft transaction, then the iptables one.
    expect(firewallInputs(nft, undefined).map((p) => p.command)).toEqual(['nft -f -', 'iptables-restore -w --noflush']);
    expect(firewallInputs(ipt, undefined).map((p) => p.command)).toEqual(['iptables-restore -w --noflush']);
  });

  it("observed: an nftables lab's isolation rules in iptables are its own; what a switch left there goes, the shared chains stay for the others", () => {
    const save = `*filter
:FORWARD ACCEPT [0:0]
:NL-ISOLATION-1 - [0:0]
:NL-ISOLATION-2 - [0:0]
:NL-a-FWD - [0:0]
-A FORWARD -m comment --comment "netlab:a" -j NL-a-FWD
-A NL-ISOLATION-1 -i nlb ! -o nlb -m comment --comment "netlab:b" -j NL-ISOLATION-2
-A NL-ISOLATION-2 -o nlb -m comment --comment "netlab:b" -j DROP
-A NL-ISOLATION-1 -i nla ! -o nla -m comment --comment "netlab:a" -j NL-ISOLATION-2
-A NL-ISOLATION-2 -o nla -m comment --comment "netlab:a" -j DROP
-A NL-a-FWD -m comment --comment "netlab:a" -j NL-ISOLATION-1
COMMIT
`;
    const ipt: FirewallState = { backend: 'iptables', tables: { filter: parseIptablesSave('a', save) } };
    const [rest, nft] = moveIsolation(ipt, { backend: 'nftables', tables: { 'inet netlab': { chains: [], jumps: [], rules: [] } } });
    expect(nft.tables.filter).toEqual({
      chains: [],
      jumps: ['-A NL-ISOLATION-1 -i nla ! -o nla -m comment --comment "netlab:a" -j NL-ISOLATION-2', '-A NL-ISOLATION-2 -o nla -m comment --comment "netlab:a" -j DROP'],
      rules: [],
      shared: ['NL-ISOLATION-1', 'NL-ISOLATION-2'],
      others: { 'NL-ISOLATION-1': 1, 'NL-ISOLATION-2': 1 },
    });
    const leftover = iptablesRestoreInput(undefined, rest);
    expect(leftover).toContain('-D FORWARD -m comment --comment "netlab:a" -j NL-a-FWD');
    expect(leftover).toContain('-X NL-a-FWD');
    expect(leftover).not.toContain('NL-ISOLATION');
    const down = iptablesRestoreInput(undefined, nft);
    expect(down).toContain('-D NL-ISOLATION-2 -o nla -m comment --comment "netlab:a" -j DROP');
    expect(down).not.toContain('netlab:b');
    expect(down).not.toContain('-X NL-ISOLATION');
  });
});

describe('planning firewall changes', () => {
  const udp = 'networks:\n  n: { bridge: nltest0, subnet: 172.31.9.0/24 }\ncontainers:\n  dns: { publish: ["5353:53/udp"] }\n';

  it('flushes the conntrack entries of a UDP port when its DNAT is new, and only then', () => {
    for (const backend of ['iptables', 'nftables'] as const) {
      const w = want(udp, backend);
      const fresh = diff(w, emptyState('lab'));
      expect(fresh.filter((o) => o.kind === 'conntrack.flush')).toEqual([{ kind: 'conntrack.flush', proto: 'udp', port: 5353 }]);
      expect(fresh.findIndex((o) => o.kind === 'conntrack.flush')).toBeGreaterThan(fresh.findIndex((o) => o.kind === 'firewall.apply'));
      expect(diff(w, w)).toEqual([]);
    }
  });

  it('moves a lab from one backend to the other: removes the old rules, writes the new', () => {
    const ipt = want(COMBOS.publish!, 'iptables');
    const nft = want(COMBOS.publish!, 'nftables');
    const ops = diff(nft, { ...ipt, firewall: undefined, otherFirewall: ipt.firewall });
    expect(ops.map((o) => o.kind)).toEqual(['firewall.remove', 'firewall.apply']);
    expect(ops[0]).toMatchObject({ have: { backend: 'iptables' } });
  });
});
