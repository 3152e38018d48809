/**
 * A published range is one binding from the file to every view: the lab model and its state hold
 * one entry for `10000-19999:10000-19999`, the firewall one run, the graph and the UI one node,
 * while Docker's per-port views (inspect, `port`) still list it port by port.
 */
import { describe, expect, it } from 'vitest';
import { resolveLab } from '../../src/model/lab.js';
import { containerPortOf, eachPort, formatBinding, forwardedBy, hostPortsOf } from '../../src/model/ports.js';
import { formatRun, portRuns } from '../../src/model/port-runs.js';
import { parseTopology } from '../../src/topology/load.js';
import { labGraph } from '../../src/graph/model.js';
import { uiLab } from '../../src/ui/model.js';
import { explainPart } from '../../src/ui/data.js';
import { dockerPublishFlag } from '../../src/plan/explain.js';
import { emptyHostContext } from '../helpers/context.js';

const yaml = `networks:
  net: { subnet: 10.236.7.0/24 }
containers:
  wide:
    networks: [net]
    publish: ["10000-19999:10000-19999", "20000-20009:80-89/udp", "21500:21500"]
`;
const lab = () => resolveLab(parseTopology(yaml, { source: 'ranges.yaml', defaultName: 'r' }), emptyHostContext);

describe('a published range as one binding', () => {
  it('is one binding in the lab model, its runs and its state, port for port', () => {
    const ports = lab().containers[0]!.ports;
    expect(ports.map(formatBinding)).toEqual(['0.0.0.0:10000-19999->10000-19999/tcp', '0.0.0.0:20000-20009->80-89/udp', '0.0.0.0:21500->21500/tcp']);
    // 21500 follows no range: three runs, as `ps` prints them.
    expect(portRuns(ports).map(formatRun)).toEqual(['0.0.0.0:10000-19999->10000-19999/tcp', '0.0.0.0:20000-20009->80-89/udp', '0.0.0.0:21500->21500/tcp']);
    expect(JSON.stringify(ports).length).toBeLessThan(1000);
    const [wide, shifted] = ports;
    expect(hostPortsOf(wide!)).toHaveLength(10000);
    expect(containerPortOf(shifted!, 20009, 'udp')).toBe(89);
    expect(containerPortOf(shifted!, 20009, 'tcp')).toBeUndefined();
    expect(containerPortOf(shifted!, 20010, 'udp')).toBeUndefined();
    expect(eachPort(shifted!).map((b) => `${b.hostPort}:${b.containerPort}`)).toEqual(Array.from({ length: 10 }, (_, i) => `${20000 + i}:${80 + i}`));
    expect(eachPort(shifted!)[0]).not.toHaveProperty('count');
  });

  it('still exposes every container port of the range, as Docker adds published ports to the exposed ones', () => {
    const expose = lab().containers[0]!.expose;
    expect(expose.filter((p) => p.proto === 'tcp')).toHaveLength(10001);
    expect(expose.filter((p) => p.proto === 'udp').map((p) => p.port)).toEqual(Array.from({ length: 10 }, (_, i) => 80 + i));
  });

  it('refuses a range that overlaps another container’s host port, naming the port', () => {
    const clash = `${yaml}  other:\n    networks: [net]\n    publish: ["15000:80"]\n`;
    expect(() => parseTopology(clash, { source: 'ranges.yaml', defaultName: 'r' })).toThrow(/containers\.other\.publish\[0\].*host port 15000\/tcp is already published by wide/s);
  });

  it('keeps automatic host ports out of a published range', () => {
    const auto = `${yaml}  other:\n    networks: [net]\n    publish: ["127.0.0.1::80"]\n`;
    const l = resolveLab(parseTopology(auto, { source: 'ranges.yaml', defaultName: 'r' }), { ...emptyHostContext, ephemeralRange: { start: 9999, end: 65535 } });
    expect(l.containers[1]!.ports[0]!.hostPort).toBe(9999);
    const l2 = resolveLab(parseTopology(auto, { source: 'ranges.yaml', defaultName: 'r' }), { ...emptyHostContext, ephemeralRange: { start: 10000, end: 65535 } });
    expect(l2.containers[1]!.ports[0]!.hostPort).toBe(20000);
  });

  it('with publishAll, publishes only the exposed ports no range forwards to', () => {
    const all = `networks:\n  net: { subnet: 10.236.7.0/24 }\ncontainers:\n  a:\n    networks: [net]\n    expose: [80, 10005, 10010]\n    publishAll: true\n    publish: ["10000-10009:10000-10009"]\n`;
    const ports = resolveLab(parseTopology(all, { source: 'all.yaml', defaultName: 'r' }), emptyHostContext).containers[0]!.ports;
    expect(ports.map((b) => `${b.containerPort}${b.count ? `+${b.count}` : ''}`)).toEqual(['10000+10', '80', '10010']);
    expect(forwardedBy(ports)({ port: 10009, proto: 'tcp' })).toBe(true);
    expect(forwardedBy(ports)({ port: 10009, proto: 'udp' })).toBe(false);
    expect(forwardedBy(ports)({ port: 81, proto: 'tcp' })).toBe(false);
  });

  it('is one node in the graph and in the UI, named by its range', () => {
    const l = lab();
    const graph = labGraph(l, { live: false });
    const ui = uiLab(l, graph, false);
    const portNodes = ui.nodes.filter((n) => n.kind === 'port');
    expect(portNodes.map((n) => n.label)).toEqual([
      ['*:10000-19999/tcp', '-p 10000-19999:10000-19999'],
      ['*:20000-20009/udp', '-p 20000-20009:80-89/udp'],
      ['*:21500/tcp', '-p 21500:21500'],
    ]);
    expect(ui.edges.filter((e) => e.kind === 'publish').map((e) => e.label)).toEqual(['DNAT 10.236.7.2:10000-19999', 'DNAT 10.236.7.2:80-89', 'DNAT 10.236.7.2:21500']);
    // The packet counters of `stats` (one row per run) find the node.
    expect(Object.keys(ui.counters.ports)).toEqual(portRuns(l.containers[0]!.ports).map(formatRun));
    expect(Object.values(ui.counters.ports)).toEqual(portNodes.map((n) => n.id));
    expect(dockerPublishFlag(portRuns(l.containers[0]!.ports)[1]!)).toBe('-p 20000-20009:80-89/udp');
    // Its node's explanation is the range's own rules (iptables writes the range a:b).
    const commands = explainPart(l, portNodes[0]!)[0]!.commands.filter((c) => /dport/.test(c));
    expect(commands.length).toBeGreaterThan(0);
    expect(commands.every((c) => c.includes('--dport 10000:19999'))).toBe(true);
  });
});
