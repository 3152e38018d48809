#!/usr/bin/env node
// Part of `npm run bench`: what netlab's engine takes when it is already loaded and warm, as a
// resident engine (a daemon the CLI would talk to) would be. No such daemon exists: this calls
// the engine's up/down in one long-lived process, so the bench can show which of issue 6's
// targets are a matter of the CLI's start (node, modules, a cold JIT) and which are not.
//   node scripts/bench-resident.mjs LAB.yaml WARMUP.yaml BACKEND NOOPS
// Prints one JSON line: {"setup": ms, "noop": [ms...], "teardown": ms}. Runs as root, with the
// bench's NETLAB_RUN_DIR; the warm-up lab (one container) is brought up and down twice first.
import { down } from '../dist/engine/down.js';
import { up } from '../dist/engine/up.js';

const [file, warmup, backend, noopArg] = process.argv.slice(2);
if (!file || !warmup || !backend) throw new Error('usage: bench-resident.mjs LAB.yaml WARMUP.yaml BACKEND [NOOPS]');
const noops = Math.max(1, Number(noopArg ?? 1));

const timed = async (fn) => {
  const started = performance.now();
  const r = await fn();
  return { ms: performance.now() - started, ops: r.ops.length };
};

try {
  for (let i = 0; i < 2; i++) {
    await up({ file: warmup, backend });
    await up({ file: warmup, backend });
    await down({ file: warmup, backend });
  }
} finally {
  await down({ file: warmup, backend }); // nothing left of it, also when the warm-up failed
}
const result = { setup: 0, noop: [], teardown: 0 };
try {
  result.setup = (await timed(() => up({ file, backend }))).ms;
  for (let k = 0; k < noops; k++) {
    const r = await timed(() => up({ file, backend }));
    if (r.ops !== 0) throw new Error(`a second up changed ${r.ops} things`);
    result.noop.push(r.ms);
  }
} finally {
  result.teardown = (await timed(() => down({ file, backend }))).ms;
}
console.log(JSON.stringify(result));
