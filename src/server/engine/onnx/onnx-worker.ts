/**
 * The ONNX Runtime session, in its own thread. onnxruntime-node computes synchronously on the calling thread, so on
 * the main thread every inference would freeze gRPC intake, decoding, health checks and cancellations for its whole
 * duration. Here it blocks only this worker.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { INPUT_NAME, OUTPUT_NAME } from './graph.js';
import { onnxSessionOptions } from './session-options.js';
import type { OnnxWorkerData, OnnxWorkerReply, OnnxWorkerRequest } from './protocol.js';

const port = parentPort!;
const { model, threads, inputShape } = workerData as OnnxWorkerData;

const session = await ort.InferenceSession.create(model, onnxSessionOptions(threads)).catch((error: Error) => {
  port.postMessage({ type: 'failed', message: error.message } satisfies OnnxWorkerReply);
  return undefined;
});

if (session) {
  port.postMessage({ type: 'ready' } satisfies OnnxWorkerReply);
  port.on('message', async (request: OnnxWorkerRequest) => {
    if (request.type === 'close') {
      await session.release();
      port.close();
      return;
    }
    try {
      const tensor = new ort.Tensor('float32', request.input, [request.batch, ...inputShape]);
      const results = await session.run({ [INPUT_NAME]: tensor });
      const output = results[OUTPUT_NAME]?.data;
      if (!(output instanceof Float32Array)) throw new Error(`onnx model produced no float32 '${OUTPUT_NAME}' output`);
      port.postMessage({ type: 'result', id: request.id, output } satisfies OnnxWorkerReply, [output.buffer as ArrayBuffer]);
    } catch (error) {
      port.postMessage({ type: 'error', id: request.id, message: (error as Error).message } satisfies OnnxWorkerReply);
    }
  });
}
