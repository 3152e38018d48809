/** DOT → SVG with Graphviz compiled to WebAssembly (@viz-js/viz): no system packages. */
import { instance } from '@viz-js/viz';

export async function dotToSvg(dot: string): Promise<string> {
  const viz = await instance();
  return viz.renderString(dot, { format: 'svg', engine: 'dot' });
}
