/** The thread of runBeside (beside.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import { doWork, type PackedWork } from './beside.js';

parentPort!.postMessage(doWork(workerData as PackedWork));
