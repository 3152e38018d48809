/** `up`'s step for the IPv6 loopback proxy: the config from the lab and the kernel's UDP timeouts, then the process made to match. */
import { readFileSync } from 'node:fs';
import type { Lab } from '../model/lab.js';
import { log } from '../log.js';
import { DEFAULT_UDP_TIMEOUT_MS, proxyConfig, PROXY_PORT_CAP, type ProxyConfig } from './config.js';
import { ensureProxy, type ProxyResult } from './lifecycle.js';

/** The proxy's config for this share, or undefined when none is wanted (no port reaches [::1], or the kernel has no IPv6). */
export function wantedProxy(lab: Lab, ipv6: boolean): { config?: ProxyConfig; left: number } {
  if (!ipv6) return { left: 0 };
  const { config, left } = proxyConfig(lab, conntrackUdpTimeouts());
  return { config, left: left.length };
}

export async function syncProxy(lab: Lab, host: string | undefined, ipv6: boolean): Promise<ProxyResult> {
  const { config, left } = wantedProxy(lab, ipv6);
  if (left > 0) log().warn(`the IPv6 loopback proxy serves the lab's first ${PROXY_PORT_CAP} published ports at [::1]; ${left} more are reached over 127.0.0.1 and the host's other addresses only`);
  const started = performance.now();
  const result = await ensureProxy(lab.name, host, config);
  for (const f of result.failed ?? []) log().warn(`the IPv6 loopback proxy cannot listen on ${f}`);
  if (result.action !== 'none') log().debug({ action: result.action, pid: result.pid, ms: Math.round(performance.now() - started) }, 'IPv6 loopback proxy');
  return result;
}

/** conntrack's UDP timeouts, which the proxy's flows follow (their defaults while nf_conntrack is not loaded). */
function conntrackUdpTimeouts(): ProxyConfig['udpTimeoutMs'] {
  const read = (name: string, fallback: number) => {
    try {
      return Number(readFileSync(`/proc/sys/net/netfilter/${name}`, 'utf8').trim()) * 1000 || fallback;
    } catch {
      return fallback;
    }
  };
  return { unreplied: read('nf_conntrack_udp_timeout', DEFAULT_UDP_TIMEOUT_MS.unreplied), replied: read('nf_conntrack_udp_timeout_stream', DEFAULT_UDP_TIMEOUT_MS.replied) };
}
