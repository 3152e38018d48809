/** The topology parser as the unit tests call it, and the problems it reports for a bad file. */
import { parseTopology } from '../../src/topology/load.js';
import { InputError } from '../../src/errors.js';

export const parse = (text: string) => parseTopology(text, { source: 'netlab.yaml', defaultName: 'folder' });

/** The lines of the InputError `text` gets; a file that loads fails the test. */
export function problems(text: string): string[] {
  try {
    parse(text);
  } catch (e) {
    if (e instanceof InputError) return e.message.split('\n');
    throw e;
  }
  throw new Error('expected an InputError');
}
