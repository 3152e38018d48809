/** The worker thread of writeAllInWorker (filewrite.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import { writeAll, type FileToWrite } from './filewrite.js';

parentPort!.postMessage(writeAll(workerData as FileToWrite[]));
