/** `netlab dns NAME`: the records a container's embedded DNS answers, and where other names go. */
import { requireContainer } from '../engine/query.js';
import { NetlabError } from '../errors.js';
import { recordsSeen, resolverConfig, type SeenRecord } from './records.js';

export interface DnsTable {
  container: string;
  records: SeenRecord[];
  upstreams: string[];
}

export async function dnsOf(lab: string, name: string): Promise<DnsTable> {
  const { share, container } = await requireContainer(lab, name);
  const config = resolverConfig({ ...share.resolved, host: container.host ?? share.resolved.host });
  const view = config?.views.find((v) => v.container === name);
  if (!config || !view)
    throw new NetlabError(
      `container "${name}" is on no network with the embedded DNS: it resolves through /etc/hosts and ${container.files.resolv.includes('nameserver') ? 'its resolv.conf' : 'the host'}`,
    );
  return { container: name, records: recordsSeen(config, view), upstreams: view.upstreams };
}
