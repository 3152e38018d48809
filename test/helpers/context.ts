/** A LabContext for pure tests: an empty host (no routes, no ports taken), Linux's default ephemeral range, a fixed resolv.conf. */
import type { LabContext } from '../../src/model/lab.js';

export const emptyHostContext: LabContext = {
  takenSubnets: [],
  usedHostPorts: new Map(),
  ephemeralRange: { start: 32768, end: 60999 },
  hostResolvConf: { text: 'nameserver 192.0.2.53\n', source: '/etc/resolv.conf' },
  ipv6: false,
};
