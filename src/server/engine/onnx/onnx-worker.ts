/**
 * The ONNX Runtime session, in its own thread. onnxruntime-node computes synchronously on the calling thread, so on
 * the main thread every inference would freeze gRPC intake, decoding, health checks and cancellations for its whole
 * duration. Here it blocks only this worker.
 */
import { workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { serveWorker } from '../serve-worker.js';
import { INPUT_NAME, OUTPUT_NAME } from './graph.js';
import { onnxSessionOptions } from './session-options.js';

export interface OnnxWorkerData {
  /** The serialized ONNX model, transferred. */
  readonly model: Uint8Array;
  readonly threads: number;
  /** [height, width, channels]. */
  readonly inputShape: readonly number[];
  readonly classes: number;
}

const { model, threads, inputShape, classes } = workerData as OnnxWorkerData;

await serveWorker(async () => {
  const session = await ort.InferenceSession.create(model, onnxSessionOptions(threads));
  return {
    backend: 'onnxruntime-node cpu',
    threads,
    inputSize: inputShape.reduce((a, b) => a * b, 1),
    outputSize: classes,
    run: async (input, batch) => {
      const results = await session.run({ [INPUT_NAME]: new ort.Tensor('float32', input, [batch, ...inputShape]) });
      const output = results[OUTPUT_NAME]?.data;
      if (!(output instanceof Float32Array)) throw new Error(`onnx model produced no float32 '${OUTPUT_NAME}' output`);
      return output;
    },
    close: () => session.release(),
  };
});
