// Two more data-plane paths for the bench (BENCH_DATAPLANE=1), each made twice in one run, by
// netlab and by hand from bare kernel objects:
// - out through MASQUERADE: a container to an "outside" namespace joined to the host by a veth
//   (netlab: the lab's own MASQUERADE; bare: the bare namespace of bench-dataplane.mjs and one nft
//   masquerade rule in a table of its own, the least that path needs);
// - across a VXLAN pair: two hosts simulated as namespaces on an underlay bridge, a container on
//   each (netlab: `up --simulate` of a two-host lab; bare: per host a vxlan device, a bridge and a
//   veth to the container namespace, MTU 1450 as netlab's default for a VXLAN network).
// Subnets NET.100 (outside), NET.104/105 (bare underlay/overlay), NET.108/109 (netlab's).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const sh = (cmd, args, input) => execFileSync(cmd, args, { encoding: 'utf8', input, stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
const ipBatch = (ns, lines) => sh('ip', [...(ns ? ['-n', ns] : []), '-batch', '-'], `${lines.join('\n')}\n`);
const quietly = (f) => {
  try {
    f();
  } catch {
    /* already gone */
  }
};

/** An iperf3 server daemon in `ns` on `port`; returns how to stop it. */
function iperfServer(ns, port, pidFile) {
  sh('ip', ['netns', 'exec', ns, 'iperf3', '-s', '-D', '-p', String(port), '-I', pidFile]);
  return () => quietly(() => process.kill(Number(sh('cat', [pidFile]).trim())));
}

/** The outside namespace with its iperf3 server, and the bare path's masquerade of `bareSubnet` towards it. */
export function outsidePath(id, net, bareSubnet) {
  const [ns, hostIf, table] = [`nldpx${id}`, `nldpx${id}`, `nldpx${id}`];
  const stops = [];
  const down = () => {
    for (const stop of stops.reverse()) stop();
  };
  try {
    ipBatch(undefined, [`netns add ${ns}`, `link add ${hostIf} type veth peer name eth0 netns ${ns}`, `addr add ${net}.100.1/24 dev ${hostIf}`, `link set ${hostIf} up`]);
    stops.push(() => quietly(() => sh('ip', ['netns', 'del', ns])));
    ipBatch(ns, [`addr add ${net}.100.2/24 dev eth0`, 'link set eth0 up', 'link set lo up']);
    sh('nft', ['-f', '-'], `table ip ${table} {\n chain post { type nat hook postrouting priority srcnat; ip saddr ${bareSubnet} oifname "${hostIf}" masquerade; }\n}\n`);
    stops.push(() => quietly(() => sh('nft', ['delete', 'table', 'ip', table])));
    stops.push(iperfServer(ns, 5202, `/run/nldpx${id}.pid`));
  } catch (e) {
    down();
    throw e;
  }
  return { server: `${net}.100.2`, port: 5202, down };
}

/** Two bare hosts (namespaces) on an underlay bridge, VXLAN between them, a container namespace on each; iperf3 serves in the second. */
export function bareVxlan(id, net) {
  const under = `nldvu${id}`;
  const host = (i) => `nldvh${i}${id}`;
  const ctr = (i) => `nldvc${i}${id}`;
  const stops = [];
  const down = () => {
    for (const stop of stops.reverse()) stop();
  };
  try {
    ipBatch(undefined, [`link add ${under} type bridge`, `link set ${under} up`]);
    stops.push(() => quietly(() => sh('ip', ['link', 'del', under])));
    for (const i of [1, 2]) {
      ipBatch(undefined, [`netns add ${host(i)}`, `netns add ${ctr(i)}`]);
      stops.push(() => quietly(() => ipBatch(undefined, [`netns del ${host(i)}`, `netns del ${ctr(i)}`])));
      ipBatch(undefined, [`link add ${under}${i} type veth peer name eth0 netns ${host(i)}`, `link set ${under}${i} master ${under} up`]);
      const [local, remote] = [`${net}.104.${10 + i}`, `${net}.104.${13 - i}`];
      ipBatch(host(i), [
        `addr add ${local}/24 dev eth0`,
        'link set eth0 up',
        'link set lo up',
        `link add vx0 type vxlan id 42 local ${local} remote ${remote} dstport 4789 dev eth0`,
        'link add br0 type bridge',
        'link set vx0 master br0 up',
        'link set br0 up',
        `link add c0 type veth peer name eth0 netns ${ctr(i)}`,
        'link set c0 mtu 1450 master br0 up',
      ]);
      ipBatch(ctr(i), [`addr add ${net}.105.${1 + i}/24 dev eth0`, 'link set eth0 mtu 1450 up', 'link set lo up']);
    }
    stops.push(iperfServer(ctr(2), 5201, `/run/nldvc${id}.pid`));
  } catch (e) {
    down();
    throw e;
  }
  return { clientNs: ctr(1), server: `${net}.105.3`, down };
}

/** The same two hosts as a netlab lab simulated here; iperf3 serves in c2, c1's namespace is the client's. */
export async function netlabVxlan(work, id, net, netlab) {
  const file = join(work, 'dataplane-vxlan.yaml');
  writeFileSync(
    file,
    [
      `name: benchvx${id}`,
      'hosts:',
      `  h1: { underlay: ${net}.108.11 }`,
      `  h2: { underlay: ${net}.108.12 }`,
      'networks:',
      `  over: { subnet: ${net}.109.0/24, vxlan: { vni: 42 } }`,
      'containers:',
      '  c1: { host: h1 }',
      '  c2: { host: h2, command: [iperf3, -s, -p, "5201"] }',
      '',
    ].join('\n'),
  );
  await netlab(['up', '--simulate', '-f', file]);
  const settings = async (name) => {
    const out = (await netlab(['inspect', name, '-f', file])).out;
    const doc = JSON.parse(out.slice(out.search(/^[[{]/m)));
    return (Array.isArray(doc) ? doc[0] : doc).NetworkSettings;
  };
  const [c1, c2] = [await settings('c1'), await settings('c2')];
  return { file, server: c2.IPAddress, clientNs: c1.SandboxKey.split('/').pop() };
}
