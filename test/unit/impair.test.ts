/** Link impairments: the units people write, the YAML shape, the tc commands, reading tc back. */
import { describe, expect, it } from 'vitest';
import { ImpairError, formatRate, formatTime, impairmentText, parseImpairment, sameImpairment, type ImpairInput } from '../../src/model/impair.js';
import { parseQdiscs, tcArgs } from '../../src/model/tc.js';
import { impairOp } from '../../src/plan/diff.js';
import { parseTopology } from '../../src/topology/load.js';
import { InputError } from '../../src/errors.js';
import { judge, topologyNeeds, type Needs } from '../../src/engine/doctor.js';
import type { HostFacts } from '../../src/kernel/probe.js';

const parse = (text: string) => parseTopology(text, { source: 'netlab.yaml', defaultName: 'imp' });
const refusal = (input: ImpairInput) => {
  try {
    parseImpairment(input);
  } catch (e) {
    if (e instanceof ImpairError) return `${e.key}: ${e.message}`;
    throw e;
  }
  throw new Error('expected an ImpairError');
};

describe('parseImpairment', () => {
  it('reads the units of tc and containerlab into canonical values', () => {
    expect(parseImpairment({ delay: '20ms', jitter: '5ms', loss: '1%', rate: '10mbit' })).toEqual({ delayUs: 20000, jitterUs: 5000, lossPercent: 1, rateBit: 10_000_000 });
    expect(parseImpairment({ delay: '1.5s', loss: 0.5, rate: '512kbit' })).toEqual({ delayUs: 1_500_000, lossPercent: 0.5, rateBit: 512_000 });
    expect(parseImpairment({ delay: '500us', rate: '1gbit' })).toEqual({ delayUs: 500, rateBit: 1e9 });
    expect(parseImpairment({})).toEqual({});
  });

  it('refuses bad units and ranges, naming the key', () => {
    expect(refusal({ delay: '-5ms' })).toBe('delay: "-5ms": a delay cannot be negative');
    expect(refusal({ delay: 20 })).toMatch(/^delay: "20" is not a time: write a number and a unit/);
    expect(refusal({ delay: '20 parsecs' })).toMatch(/^delay: .*not a time/);
    expect(refusal({ delay: '2min' })).toMatch(/^delay: .*not a time/);
    expect(refusal({ delay: '61s' })).toMatch(/^delay: .*limit of 60s/);
    expect(refusal({ jitter: '5ms' })).toMatch(/^jitter: jitter varies the delay: give a delay too/);
    expect(refusal({ loss: '101%' })).toBe('loss: "101%" is out of range: loss is between 0% and 100%');
    expect(refusal({ loss: -1 })).toMatch(/^loss: .*out of range/);
    expect(refusal({ loss: 'some' })).toMatch(/^loss: "some" is not a percentage/);
    expect(refusal({ rate: '10mbps' })).toMatch(/^rate: "10mbps": tc reads mbps as bytes per second.*80mbit/);
    expect(refusal({ rate: '10' })).toMatch(/^rate: "10" is not a rate/);
    expect(refusal({ rate: '1bit' })).toMatch(/^rate: .*between 8kbit and 100gbit/);
  });

  it('prints values as they were written', () => {
    expect(formatTime(20000)).toBe('20ms');
    expect(formatTime(1500)).toBe('1.5ms');
    expect(formatTime(500)).toBe('500us');
    expect(formatTime(2e6)).toBe('2s');
    expect(formatRate(10e6)).toBe('10mbit');
    expect(formatRate(1.5e6)).toBe('1.5mbit');
    expect(formatRate(512e3)).toBe('512kbit');
    expect(impairmentText({ delayUs: 20000, jitterUs: 5000, lossPercent: 1, rateBit: 10e6 })).toBe('delay 20ms jitter 5ms loss 1% rate 10mbit');
    expect(impairmentText({})).toBe('none');
  });

  it('compares within what the kernel keeps', () => {
    expect(sameImpairment({ rateBit: 1_234_567 }, { rateBit: 1_234_000 })).toBe(true);
    expect(sameImpairment({ rateBit: 10e6 }, { rateBit: 5e6 })).toBe(false);
    expect(sameImpairment({}, undefined)).toBe(true);
    expect(sameImpairment({ lossPercent: 1 }, {})).toBe(false);
  });
});

describe('impair: in the topology', () => {
  const file = `networks:
  n: {}
  m: {}
containers:
  a:
    impair: { delay: 20ms, rate: 10mbit }
    networks:
      n: {}
      m: { impair: { loss: 2% } }
  b:
    networks: [n]
`;
  it("applies a container's impair to each interface; an attachment's own replaces it there", () => {
    const a = parse(file).containers.find((c) => c.name === 'a')!;
    expect(a.impair).toEqual({
      n: { impair: { delayUs: 20000, rateBit: 10e6 }, at: { path: 'containers.a.impair', line: 6 } },
      m: { impair: { lossPercent: 2 }, at: { path: 'containers.a.networks.m.impair', line: 9 } },
    });
    expect(parse(file).containers.find((c) => c.name === 'b')!.impair).toBeUndefined();
  });

  it('names the YAML path and line of a bad value, and of an unknown key', () => {
    const bad = file.replace('loss: 2%', 'loss: 200%').replace('delay: 20ms', 'jitter: 5ms');
    expect(() => parse(bad)).toThrow(InputError);
    let message = '';
    try {
      parse(bad);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('netlab.yaml:6: containers.a.impair.jitter: jitter varies the delay: give a delay too');
    expect(message).toContain('netlab.yaml:9: containers.a.networks.m.impair.loss: "200%" is out of range: loss is between 0% and 100%');
    expect(() => parse(file.replace('rate: 10mbit', 'bandwidth: 10mbit'))).toThrow(/netlab.yaml:6: containers.a.impair.bandwidth: unknown key "bandwidth"/);
  });
});

describe('tc commands', () => {
  it('makes a tbf for a rate and a netem for delay and loss, the netem under the tbf when both', () => {
    expect(tcArgs('eth0', { rateBit: 10e6 }, undefined)).toEqual([['qdisc', 'replace', 'dev', 'eth0', 'root', 'handle', '1:', 'tbf', 'rate', '10000000bit', 'burst', '16384', 'latency', '50ms']]);
    expect(tcArgs('eth0', { delayUs: 20000, jitterUs: 5000, lossPercent: 1 }, {})).toEqual([
      ['qdisc', 'replace', 'dev', 'eth0', 'root', 'handle', '10:', 'netem', 'delay', '20ms', '5ms', 'loss', '1%'],
    ]);
    expect(tcArgs('eth1', { delayUs: 20000, rateBit: 1e9 }, undefined).map((a) => a.join(' '))).toEqual([
      'qdisc replace dev eth1 root handle 1: tbf rate 1000000000bit burst 1250000 latency 50ms',
      'qdisc replace dev eth1 parent 1:1 handle 10: netem delay 20ms',
    ]);
  });

  it('changes qdiscs in place when the layout stays, and makes them anew when it changes', () => {
    expect(tcArgs('eth0', { rateBit: 5e6 }, { rateBit: 10e6 }).map((a) => a.join(' '))).toEqual(['qdisc change dev eth0 root handle 1: tbf rate 5000000bit burst 16384 latency 50ms']);
    expect(tcArgs('eth0', { delayUs: 1000 }, { rateBit: 10e6 }).map((a) => a.join(' '))).toEqual(['qdisc del dev eth0 root', 'qdisc replace dev eth0 root handle 10: netem delay 1ms']);
    expect(tcArgs('eth0', {}, { rateBit: 10e6 }).map((a) => a.join(' '))).toEqual(['qdisc del dev eth0 root']);
    expect(tcArgs('eth0', {}, {})).toEqual([]);
  });

  it('reads tc qdisc show back, tbf at the root and netem at the root or under it', () => {
    const shown = [
      'qdisc noqueue 0: dev lo root refcnt 2 ',
      'qdisc tbf 1: dev eth0 root refcnt 3 rate 10Mbit burst 16Kb lat 50ms ',
      'qdisc netem 10: dev eth0 parent 1:1 limit 1000 delay 20ms  5ms loss 1%',
      'qdisc netem 10: dev eth1 root refcnt 2 limit 1000 delay 1.5ms loss 25%',
      'qdisc tbf 1: dev eth2 root refcnt 3 rate 1500Kbit burst 16Kb lat 50ms ',
      'qdisc noqueue 0: dev eth3 root refcnt 2 ',
    ].join('\n');
    const q = parseQdiscs(shown);
    expect(q.get('eth0')).toEqual({ rateBit: 10e6, delayUs: 20000, jitterUs: 5000, lossPercent: 1 });
    expect(q.get('eth1')).toEqual({ delayUs: 1500, lossPercent: 25 });
    expect(q.get('eth2')).toEqual({ rateBit: 1.5e6 });
    expect(q.has('eth3')).toBe(false);
    // iproute2 6.15 (Debian trixie, the VM guests) prints netem's seed too.
    expect(parseQdiscs('qdisc netem 10: dev eth0 root refcnt 2 limit 1000 delay 20ms seed 16470331607539796419 loss 25%').get('eth0')).toEqual({ delayUs: 20000, lossPercent: 25 });
  });

  it('plans a change only where want and have differ; unread qdiscs are only added', () => {
    expect(impairOp('ns', 'eth0', { rateBit: 10e6 }, { rateBit: 10e6 })).toBeUndefined();
    expect(impairOp('ns', 'eth0', undefined, undefined)).toBeUndefined();
    expect(impairOp('ns', 'eth0', { rateBit: 10e6 }, undefined)).toEqual({ kind: 'tc.set', ns: 'ns', dev: 'eth0', impair: { rateBit: 10e6 } });
    expect(impairOp('ns', 'eth0', undefined, { rateBit: 10e6 })).toEqual({ kind: 'tc.set', ns: 'ns', dev: 'eth0', impair: {}, have: { rateBit: 10e6 } });
  });
});

describe('doctor and impair:', () => {
  const works = { state: 'works' as const, how: 'created one in a scratch namespace' };
  const facts = (netem: 'works' | 'missing'): HostFacts => ({
    root: true,
    programs: {},
    features: {
      netns: works,
      veth: works,
      bridge: works,
      vxlan: works,
      nf_tables: works,
      br_netfilter: works,
      sch_tbf: works,
      sch_netem: { state: netem, how: 'creating one in a scratch namespace failed' },
    },
    docker: { running: false, evidence: [] },
    firewalld: { running: false },
  });
  const needs = (text: string): Needs => ({ ...topologyNeeds(parse(text)), subnets: { id: 'subnets', status: 'ok', message: '' } });
  const netemCheck = (f: HostFacts, n: Needs) => judge(f, n).checks.find((c) => c.id === 'kernel:sch_netem');

  it('fails a missing netem only for a topology that asks for delay, jitter or loss', () => {
    expect(needs('containers:\n  a: { impair: { loss: 1% } }\n')).toMatchObject({ netem: true, tbf: false });
    expect(needs('containers:\n  a: { impair: { rate: 1mbit } }\n')).toMatchObject({ netem: false, tbf: true });
    expect(netemCheck(facts('missing'), needs('containers:\n  a: { impair: { delay: 1ms } }\n'))).toMatchObject({ status: 'fail', fix: expect.stringContaining('modprobe sch_netem') });
    expect(netemCheck(facts('missing'), needs('containers:\n  a: { impair: { rate: 1mbit } }\n'))?.status).toBe('warn');
    expect(netemCheck(facts('works'), needs('containers:\n  a: { impair: { delay: 1ms } }\n'))?.status).toBe('ok');
  });
});
