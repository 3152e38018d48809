/** netlab as a library: the same engine the CLI uses. */
export { up, type UpOptions, type UpResult } from './engine/up.js';
export { down, type DownOptions, type DownResult } from './engine/down.js';
export { ps, inspect, logs, type ContainerRow, type ContainerStatus } from './engine/query.js';
export { execIn } from './engine/exec.js';
export { loadTopology, parseTopology, type LoadOptions } from './topology/load.js';
export type { Topology, NetworkDef, ContainerDef } from './topology/types.js';
export type { Lab, LabContainer, LabNetwork } from './model/lab.js';
export type { Op } from './plan/ops.js';
export { renderOp } from './plan/render.js';
export { NetlabError, InputError, ConflictError, KernelError } from './errors.js';
export { explain, viewLab, type LabView } from './engine/view.js';
export { explainSections, renderExplain, type ExplainSection } from './plan/explain.js';
export { labGraph, type Graph } from './graph/model.js';
export { toDot } from './graph/dot.js';
export { toMermaid } from './graph/mermaid.js';
export { dotToSvg } from './graph/svg.js';
export { doctor, type DoctorReport, type Check } from './engine/doctor.js';
