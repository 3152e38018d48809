/** `netlab impair`: reads the flags, calls the engine, prints each interface's impairment. */
import { InputError } from '../errors.js';
import { impairmentText, type ImpairInput } from '../model/impair.js';

export interface ImpairFlags {
  network?: string;
  delay?: string;
  jitter?: string;
  loss?: string;
  rate?: string;
  clear?: boolean;
  reset?: boolean;
  json?: boolean;
}

export async function impairAction(lab: string, name: string, o: ImpairFlags): Promise<void> {
  const given: ImpairInput = Object.fromEntries((['delay', 'jitter', 'loss', 'rate'] as const).flatMap((k) => (o[k] === undefined ? [] : [[k, o[k]]])));
  const asked = [Object.keys(given).length > 0 ? '--delay/--jitter/--loss/--rate' : '', o.clear ? '--clear' : '', o.reset ? '--reset' : ''].filter(Boolean);
  if (asked.length > 1) throw new InputError([{ path: asked.join(', '), message: 'give one of them: new values, --clear or --reset' }]);
  const { impair } = await import('../engine/impair.js');
  const r = await impair({ lab, container: name, network: o.network, ...(Object.keys(given).length > 0 ? { set: given } : {}), clear: !!o.clear, reset: !!o.reset });
  if (o.json) return console.log(JSON.stringify(r, null, 2));
  const { renderOp } = await import('../plan/render.js');
  for (const op of r.ops) console.log(renderOp(op));
  for (const i of r.interfaces) console.log(`${name} ${i.ifname} (network ${i.network}): ${impairmentText(i.impair)}`);
}
