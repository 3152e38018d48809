/** netlab as a library: the same engine the CLI uses. */
export { up, type UpOptions, type UpResult } from './engine/up.js';
export { down, downAll, type DownOptions, type DownResult } from './engine/down.js';
export { ps, inspect, logs, type ContainerRow, type ContainerStatus } from './engine/query.js';
export { execIn } from './engine/exec.js';
export { status, type LabStatus } from './engine/status.js';
export { loadTopology, parseTopology, type LoadOptions } from './topology/load.js';
export type { Topology, NetworkDef, ContainerDef } from './topology/types.js';
export type { Lab, LabContainer, LabNetwork } from './model/lab.js';
export type { Op } from './plan/ops.js';
export { renderOp } from './plan/render.js';
export type { BackendName } from './kernel/backend.js';
export { NetlabError, InputError, ConflictError, KernelError, InterruptedError } from './errors.js';
