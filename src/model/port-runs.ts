/**
 * Consecutive published ports as runs: `10000-19999:10000-19999` is one binding and one run, which the firewall renders as one rule and `ps` shows as one range, the way
 * Docker prints `0.0.0.0:8000-8002->80-82/tcp`.
 */
import type { ResolvedBinding } from './lab.js';
import { hostIpText, portCount, type PortProto, type Proto } from './ports.js';

export interface PortRun {
  hostIp: string;
  proto: Proto;
  host: { start: number; end: number };
  container: { start: number; end: number };
  containerIp: string;
  /** The container's IPv6 address on the bridge, when its network has IPv6. */
  containerIp6?: string;
  bridge: string;
}

/** Bindings (each one port or a range) that follow one another port for port, on both sides, to the same address, as one run. */
export function portRuns(ports: readonly ResolvedBinding[]): PortRun[] {
  const runs: PortRun[] = [];
  for (const p of ports) {
    const n = portCount(p);
    const last = runs[runs.length - 1];
    const extends_ =
      last &&
      last.hostIp === p.hostIp &&
      last.proto === p.proto &&
      last.containerIp === p.containerIp &&
      last.containerIp6 === p.containerIp6 &&
      last.bridge === p.bridge &&
      p.hostPort === last.host.end + 1 &&
      p.containerPort === last.container.end + 1;
    if (extends_) {
      last.host.end += n;
      last.container.end += n;
    } else {
      runs.push({
        hostIp: p.hostIp,
        proto: p.proto,
        host: { start: p.hostPort, end: p.hostPort + n - 1 },
        container: { start: p.containerPort, end: p.containerPort + n - 1 },
        containerIp: p.containerIp,
        ...(p.containerIp6 ? { containerIp6: p.containerIp6 } : {}),
        bridge: p.bridge,
      });
    }
  }
  return runs;
}

/** Exposed ports that follow one another, per protocol, as ranges. */
export function exposeRuns(expose: readonly PortProto[]): { proto: Proto; start: number; end: number }[] {
  const runs: { proto: Proto; start: number; end: number }[] = [];
  for (const e of expose) {
    const last = runs[runs.length - 1];
    if (last && last.proto === e.proto && e.port === last.end + 1) last.end++;
    else runs.push({ proto: e.proto, start: e.port, end: e.port });
  }
  return runs;
}

/** `80`, `10000-19999`. */
export const spanText = (r: { start: number; end: number }) => (r.start === r.end ? String(r.start) : `${r.start}-${r.end}`);

/** Docker's `ps` form: `0.0.0.0:8080->80/tcp`, `0.0.0.0:10000-19999->10000-19999/tcp`. */
export function formatRun(r: PortRun): string {
  return `${hostIpText(r.hostIp)}:${r.host.start ? spanText(r.host) : '?'}->${spanText(r.container)}/${r.proto}`;
}

/** `7000-7010/tcp`, `53/udp`. */
export function formatExposeRun(r: { proto: Proto; start: number; end: number }): string {
  return `${spanText(r)}/${r.proto}`;
}

/** The run of `runs` that holds host port `port`/`proto`. */
export function runOfHostPort(runs: readonly PortRun[], port: number, proto: Proto): PortRun | undefined {
  return runs.find((r) => r.proto === proto && port >= r.host.start && port <= r.host.end);
}
