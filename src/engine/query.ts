/** Read-only views of a running lab: ps, inspect, logs. */
import { isEmpty, impairmentWords, type Impairment } from '../model/impair.js';
import { tcArgs } from '../model/tc.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NetlabError, InputError } from '../errors.js';
import type { Lab, LabContainer } from '../model/lab.js';
import { eachPort, forwardedBy, portKey, type PortProto } from '../model/ports.js';
import { exposeRuns, formatExposeRun, formatRun, portRuns } from '../model/port-runs.js';
import { ctrDir, NETNS_DIR, labDir, logPath } from '../paths.js';
import { readText } from '../kernel/host.js';
import { dockerStatus } from '../model/humanize.js';
import { containerEnvOf } from '../plan/desired.js';
import { monitorPid, readHealth, readMonitorState, type MonitorState } from '../kernel/monitor.js';
import { shareReads, type StateFile } from './state.js';

export type ContainerStatus = 'running' | 'restarting' | 'exited' | 'up' | 'missing';

/** A container's status as `statuses` reads it: the monitor's record of its command, when it has one. */
export interface ContainerState {
  status: ContainerStatus;
  pid?: number;
  state?: MonitorState;
  /** State.Health, for a running command with a healthcheck. */
  health?: { Status: string; FailingStreak: number };
}

export interface ContainerRow {
  name: string;
  /** Host that runs it, in a multi-host lab. */
  host?: string;
  status: ContainerStatus;
  /** docker ps's STATUS: `Up 3 minutes`, `Exited (1) 5 seconds ago`; `up` for a container without a command. */
  statusText: string;
  /** The monitor's record: exit code, times, restarts (containers with a command). */
  state?: MonitorState;
  pid?: number;
  ip: string;
  /** docker ps's PORTS: published runs collapsed (`0.0.0.0:30000-34999->30000-34999/tcp`), then the ports only exposed. */
  ports: string[];
  /** The same, one object a port, as Docker's API lists a container's Ports (`ps --json` prints these). */
  portObjects: DockerPort[];
  links: string[];
  netns: string;
}

export interface DockerPort {
  IP?: string;
  PrivatePort: number;
  PublicPort?: number;
  Type: string;
}

/** Docker's API Ports of a container: each published binding, then each port only exposed. */
function portObjectsOf(c: LabContainer, published: (p: PortProto) => boolean): DockerPort[] {
  return [
    ...c.ports.flatMap(eachPort).map((p) => ({ IP: p.hostIp, PrivatePort: p.containerPort, PublicPort: p.hostPort, Type: p.proto })),
    ...c.expose.filter((p) => !published(p)).map((p) => ({ PrivatePort: p.port, Type: p.proto })),
  ];
}

/** Every share of the lab on this machine (one, or one per simulated host). */
const tcQdiscText = (dev: string, i: Impairment) => tcArgs(dev, i, undefined).map((a) => `tc ${a.join(' ')}`);

export async function requireShares(lab: string): Promise<StateFile[]> {
  const reads = await shareReads(lab);
  const broken = reads.find((r) => r.problem);
  if (broken)
    throw new NetlabError(`the state of lab "${lab}" in ${broken.path} is unusable: ${broken.problem}. "netlab up" rebuilds it from the lab's marks in the kernel; "netlab down" removes the lab`);
  if (reads.length === 0) throw new NetlabError(`lab "${lab}" is not up (no state in ${labDir(lab)}); run "netlab up" first`);
  return reads.map((r) => r.state!);
}

/** The share that runs `name`, with the lab as that share resolved it. */
export async function requireContainer(lab: string, name: string): Promise<{ share: StateFile; container: LabContainer }> {
  const shares = await requireShares(lab);
  const share = shares.find((s) => s.resolved.containers.some((c) => c.name === name && (!s.host || c.host === s.host))) ?? shares[0]!;
  return { share, container: findContainer(share.resolved, name) };
}

/** The containers a share runs. */
const localTo = (s: StateFile) => s.resolved.containers.filter((c) => !s.host || c.host === s.host);

export function findContainer(lab: Lab, name: string): LabContainer {
  const c = lab.containers.find((x) => x.name === name);
  if (!c) throw new InputError([{ path: 'container', message: `lab "${lab.name}" has no container "${name}" (it has: ${lab.containers.map((x) => x.name).join(', ') || 'none'})` }]);
  return c;
}

export async function statuses(s: StateFile): Promise<Map<string, ContainerState>> {
  const out = new Map<string, ContainerState>();
  for (const c of localTo(s)) {
    const dir = ctrDir(s.lab, c.name);
    const state = c.command === undefined ? undefined : readMonitorState(dir);
    const monitor = c.command === undefined ? undefined : monitorPid(dir);
    const watched = state !== undefined && monitor !== undefined;
    if (!existsSync(join(NETNS_DIR, c.netns))) out.set(c.name, { status: 'missing' });
    else if (c.command === undefined) out.set(c.name, { status: 'up' });
    // A monitor that has not yet recorded its first start.
    else if (monitor !== undefined && state === undefined)
      out.set(c.name, { status: 'running', state: { Status: 'running', Pid: 0, ExitCode: 0, StartedAt: new Date().toISOString(), FinishedAt: '0001-01-01T00:00:00Z', RestartCount: 0 } });
    // Running as the monitor last recorded: a command that has just exited is recorded as such by its monitor in a moment, with its code and time.
    else if (watched && state.Status === 'running') {
      const health = c.runtime?.health ? (readHealth(dir) ?? { Status: 'starting', FailingStreak: 0 }) : undefined;
      out.set(c.name, { status: 'running', pid: state.Pid, state, ...(health ? { health } : {}) });
    } else if (watched && state.Status === 'restarting') out.set(c.name, { status: 'restarting', state });
    else out.set(c.name, { status: 'exited', state: state && { ...state, Status: 'exited', Pid: 0 } });
  }
  return out;
}

export async function ps(lab: string): Promise<ContainerRow[]> {
  const rows: ContainerRow[] = [];
  for (const s of await requireShares(lab)) rows.push(...(await shareRows(s)));
  return rows;
}

/** The rows of one share, from its state as a run just left it (what `ps` would read back). */
export async function shareRows(s: StateFile): Promise<ContainerRow[]> {
  const st = await statuses(s);
  return localTo(s).map((c) => {
    const published = forwardedBy(c.ports);
    return {
      name: c.name,
      ...(c.host ? { host: c.host } : {}),
      status: st.get(c.name)!.status,
      statusText: textOf(st.get(c.name)!),
      ...(st.get(c.name)!.state ? { state: st.get(c.name)!.state } : {}),
      pid: st.get(c.name)!.pid,
      // Both families, as `docker ps` has no column for them: `172.31.0.2,fd6e:6c61:6200::2`.
      ip: c.interfaces.flatMap((i) => [i.ip, i.ip6 ?? ''].filter(Boolean)).join(','),
      ports: [...portRuns(c.ports).map(formatRun), ...exposeRuns(c.expose.filter((p) => !published(p))).map(formatExposeRun)],
      portObjects: portObjectsOf(c, published),
      links: c.links.map((l) => (l.alias === l.target ? l.target : `${l.target}:${l.alias}`)),
      netns: c.netns,
    };
  });
}

/** docker port: `80/tcp -> 0.0.0.0:8080` per port (a range port by port, as Docker lists it), or only `0.0.0.0:8080` for the one port asked. */
export async function portLines(lab: string, name: string, port?: string): Promise<string[]> {
  const { container: c } = await requireContainer(lab, name);
  const want = port === undefined ? undefined : port.includes('/') ? port : `${port}/tcp`;
  return c.ports
    .flatMap(eachPort)
    .filter((p) => want === undefined || `${p.containerPort}/${p.proto}` === want)
    .map((p) => (want ? `${p.hostIp}:${p.hostPort}` : `${p.containerPort}/${p.proto} -> ${p.hostIp}:${p.hostPort}`));
}

/** docker ps's STATUS words. */
export function textOf(st: ContainerState): string {
  if (st.state) return dockerStatus(st.state) + (st.health ? ` (${st.health.Status === 'starting' ? 'health: starting' : st.health.Status})` : '');
  return st.status === 'exited' ? 'Exited' : st.status;
}

/** Docker's `docker inspect` shape, with NetworkSettings as the classic bridge driver fills it. */
export async function inspect(lab: string, name: string): Promise<Record<string, unknown>> {
  const { share: s, container: c } = await requireContainer(lab, name);
  const st = (await statuses(s)).get(name) ?? { status: 'missing' as const };
  const primary = c.interfaces[0];
  const dnsNets = new Set(s.resolved.networks.filter((n) => n.dns).map((n) => n.name));
  const ports: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const p of c.expose) ports[portKey(p)] = null;
  // Docker keys both per port: a published range is as many entries.
  const each = c.ports.flatMap(eachPort);
  for (const p of each) (ports[`${p.containerPort}/${p.proto}`] ??= []).push({ HostIp: p.hostIp, HostPort: String(p.hostPort) });
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of each) (bindings[`${p.containerPort}/${p.proto}`] ??= []).push({ HostIp: p.hostIp === '0.0.0.0' ? '' : p.hostIp, HostPort: String(p.hostPort) });
  return {
    Name: `/${c.name}`,
    Lab: s.lab,
    ...(c.host ? { Host: c.host } : {}),
    State: {
      Status: st.status,
      Running: st.status === 'running',
      Restarting: st.status === 'restarting',
      Pid: st.pid ?? 0,
      ExitCode: st.state?.ExitCode ?? 0,
      StartedAt: st.state?.StartedAt ?? '0001-01-01T00:00:00Z',
      FinishedAt: st.state?.FinishedAt ?? '0001-01-01T00:00:00Z',
      ...(st.health ? { Health: st.health } : {}),
    },
    RestartCount: st.state?.RestartCount ?? 0,
    Config: {
      Hostname: c.hostname,
      Env: containerEnvOf(c).map(([k, v]) => `${k}=${v}`),
      User: c.runtime?.user ?? '',
      WorkingDir: c.runtime?.workdir ?? '',
      Cmd: c.command === undefined ? null : typeof c.command === 'string' ? ['/bin/sh', '-c', c.command] : c.command,
      ExposedPorts: Object.fromEntries(c.expose.map((p) => [portKey(p), {}])),
    },
    HostConfig: {
      Links: c.links.length ? c.links.map((l) => `/${l.target}:/${c.name}/${l.alias}`) : null,
      PortBindings: bindings,
      RestartPolicy: { Name: c.runtime?.restart.policy ?? 'no', MaximumRetryCount: c.runtime?.restart.policy === 'on-failure' ? c.runtime.restart.maxRetries : 0 },
      Binds: c.runtime?.volumes.length ? c.runtime.volumes.map((v) => `${v.source}:${v.target}${v.readOnly ? ':ro' : ''}`) : null,
      Tmpfs: c.runtime?.tmpfs.length ? Object.fromEntries(c.runtime.tmpfs.map((t) => [t.target, t.options])) : null,
    },
    NetworkSettings: {
      SandboxKey: join(NETNS_DIR, c.netns),
      IPAddress: primary?.ip ?? '',
      IPPrefixLen: primary?.prefix ?? 0,
      Gateway: primary?.gateway ?? '',
      MacAddress: primary?.mac ?? '',
      GlobalIPv6Address: primary?.ip6 ?? '',
      GlobalIPv6PrefixLen: primary?.prefix6 ?? 0,
      IPv6Gateway: primary?.gateway6 ?? '',
      Ports: ports,
      Networks: Object.fromEntries(
        c.interfaces.map((i) => [
          i.network,
          {
            Links: i === primary && c.links.length ? c.links.map((l) => `${l.target}:${l.alias}`) : null,
            // Docker 26+: the names the embedded DNS gives this endpoint (none on the default bridge).
            Aliases: dnsNets.has(i.network) ? (c.aliases?.[i.network] ?? []) : null,
            DNSNames: dnsNets.has(i.network) ? [...new Set([c.name, c.hostname, ...(c.aliases?.[i.network] ?? [])])] : null,
            IPAddress: i.ip,
            IPPrefixLen: i.prefix,
            Gateway: i.gateway,
            GlobalIPv6Address: i.ip6 ?? '',
            GlobalIPv6PrefixLen: i.prefix6 ?? 0,
            IPv6Gateway: i.gateway6 ?? '',
            MacAddress: i.mac,
            InterfaceName: i.ifname,
            HostVeth: i.hostVeth,
            Bridge: i.bridge,
            MTU: i.mtu,
            // netlab's own: tc netem/tbf on InterfaceName (docs/impair.md), null without; `netlab impair` changes it.
            Impairment: i.impair && !isEmpty(i.impair) ? { ...impairmentWords(i.impair), Tc: tcQdiscText(i.ifname, i.impair), Source: i.impairAt?.path ?? '' } : null,
          },
        ]),
      ),
    },
  };
}

export async function logs(lab: string, name: string): Promise<string> {
  const { container: c } = await requireContainer(lab, name);
  if (c.command === undefined) throw new NetlabError(`container "${name}" has no command, so no log: its "command:" key would start one`);
  return (await readText(logPath(lab, name))) ?? '';
}
