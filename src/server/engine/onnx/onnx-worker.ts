/**
 * The ONNX Runtime session, in its own thread. onnxruntime-node computes synchronously on the calling thread, so on
 * the main thread every inference would freeze gRPC intake, decoding, health checks and cancellations for its whole
 * duration. Here it blocks only this worker.
 */
import { workerData } from 'node:worker_threads';
import { serveWorker } from '../serve-worker.js';
import { startOnnxSession, type OnnxWorkerData } from './onnx-session.js';

await serveWorker(() => startOnnxSession(workerData as OnnxWorkerData));
