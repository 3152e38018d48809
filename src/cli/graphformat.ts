/** Which format `netlab graph -o FILE` writes, from --format and the file's extension. */
import { InputError } from '../errors.js';

const FORMAT_OF_EXTENSION: Record<string, string> = { svg: 'svg', dot: 'dot', gv: 'dot', mmd: 'mermaid', mermaid: 'mermaid', json: 'json' };

/** The format `graph` writes: the one asked for, else the output file's extension's; a picture format netlab does not draw is refused. */
export function graphFormat(format: string, asked: boolean, output: string | undefined): string {
  const ext = output?.match(/\.([A-Za-z0-9]+)$/)?.[1]?.toLowerCase();
  if (ext === undefined) return format;
  const fits = FORMAT_OF_EXTENSION[ext];
  if (fits === undefined && /^(png|jpe?g|gif|webp|pdf|bmp|tiff?)$/.test(ext)) {
    throw new InputError([{ path: '-o/--output', message: `netlab draws SVG, DOT, Mermaid or JSON, not .${ext}: write lab.svg and convert it (e.g. rsvg-convert -o lab.${ext} lab.svg)` }]);
  }
  if (fits !== undefined && asked && fits !== format) throw new InputError([{ path: '--format', message: `${format} into ${output}: the file's extension says ${fits}` }]);
  return fits ?? format;
}
