/** What `explain` says about a container's link impairments: what each tc qdisc does, in a line each. */
import { formatRate, formatTime, impairmentText, needsNetem } from '../model/impair.js';
import type { LabContainer } from '../model/lab.js';
import { TBF_LATENCY, tbfBurst } from '../model/tc.js';

export function impairWhy(c: LabContainer): string[] {
  const out: string[] = [];
  for (const i of c.interfaces) {
    const m = i.impair;
    if (!m) continue;
    out.push(
      `Link impairment on ${i.ifname} (${impairmentText(m)}), as Mininet's TCLink and containerlab's "tools netem" make it: tc queueing disciplines on the container's end of the veth, so they shape what ${c.name} sends on network ${i.network}${m.delayUs !== undefined ? " (a ping's round trip gets the delay once)" : ''}; Docker has no such option.`,
    );
    if (m.rateBit !== undefined) {
      out.push(
        `tbf (token bucket filter) at the root, handle 1:, holds ${c.name}'s packets to ${formatRate(m.rateBit)}: tokens arrive at that rate, a bucket of ${tbfBurst(m.rateBit)} bytes allows short bursts, and a packet that would wait longer than ${TBF_LATENCY} for tokens is dropped.`,
      );
    }
    if (needsNetem(m)) {
      const what = [
        m.delayUs !== undefined
          ? `delays every packet by ${formatTime(m.delayUs)}${m.jitterUs !== undefined ? ` give or take ${formatTime(m.jitterUs)} (jitter, which can reorder packets)` : ''}`
          : '',
        m.lossPercent !== undefined ? `drops ${m.lossPercent}% of them at random` : '',
      ].filter(Boolean);
      out.push(
        `netem (network emulator), handle 10:${m.rateBit !== undefined ? ', under the tbf (parent 1:1) so that delayed packets are still held to the rate' : ' at the root'}, ${what.join(' and ')}.`,
      );
    }
  }
  return out;
}
