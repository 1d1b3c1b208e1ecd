/**
 * The worker-thread side of an engine, the same for every engine: starts the model, reports ready or failed, answers
 * runs one at a time in order, and on request releases the model and ends the thread.
 */
import { parentPort } from 'node:worker_threads';
import type { WorkerReply, WorkerRequest } from './worker-client.js';

export interface WorkerModel {
  /** In words, for EngineInfo.backend. */
  readonly backend: string;
  readonly threads: number;
  run(input: Float32Array, batch: number): Promise<Float32Array>;
  close(): Promise<void> | void;
}

export async function serveWorker(start: () => Promise<WorkerModel>): Promise<void> {
  if (parentPort === null) throw new Error('an engine worker must run in a worker thread');
  const port = parentPort;
  const post = (reply: WorkerReply, transfer: ArrayBuffer[] = []): void => port.postMessage(reply, transfer);
  let model: WorkerModel;
  try {
    model = await start();
  } catch (error) {
    post({ type: 'failed', message: errorMessage(error) });
    return;
  }
  post({ type: 'ready', backend: model.backend, threads: model.threads });

  const handle = async (request: WorkerRequest): Promise<void> => {
    if (request.type === 'close') {
      try {
        await model.close();
      } finally {
        // Ends this thread even where the backend's own threads would keep it alive.
        process.exit(0);
      }
    }
    try {
      const output = await model.run(request.input, request.batch);
      // Only a whole, unshared buffer can be transferred back.
      const whole = output.buffer instanceof ArrayBuffer && output.byteLength === output.buffer.byteLength;
      const own = whole ? output : output.slice();
      post({ type: 'result', id: request.id, output: own }, [own.buffer as ArrayBuffer]);
    } catch (error) {
      post({ type: 'error', id: request.id, message: errorMessage(error) });
    }
  };
  // Requests are chained so each run (and the close) starts after the one before has finished.
  let queue = Promise.resolve();
  port.on('message', (request: WorkerRequest) => {
    queue = queue.then(() => handle(request));
  });
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  // tfjs-backend-wasm rejects its init with a bare { message } object.
  if (typeof error === 'object' && error !== null && 'message' in error) return String(error.message);
  return String(error);
}
