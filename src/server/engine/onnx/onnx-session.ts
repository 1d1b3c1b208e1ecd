/** The worker side of the onnx engine: an ONNX Runtime session on the serialized model, as serveWorker runs it. */
import * as ort from 'onnxruntime-node';
import type { WorkerModel } from '../serve-worker.js';
import { INPUT_NAME, OUTPUT_NAME } from './graph.js';
import { onnxSessionOptions } from './session-options.js';

export interface OnnxWorkerData {
  /** The serialized ONNX model, in the engine's shared memory (shared-model.ts). */
  readonly model: Uint8Array;
  readonly threads: number;
  /** Intra-op threads busy-wait for work (session-options.ts; absent: ONNX Runtime's default, yes). */
  readonly spinning?: boolean;
  /** [height, width, channels]. */
  readonly inputShape: readonly number[];
  readonly classes: number;
}

export async function startOnnxSession({
  model,
  threads,
  spinning,
  inputShape,
  classes,
}: OnnxWorkerData): Promise<WorkerModel> {
  // ONNX Runtime refuses shared memory ("Invalid argument"): a private copy, made here in the worker's thread.
  const bytes = model.buffer instanceof SharedArrayBuffer ? new Uint8Array(model) : model;
  const session = await ort.InferenceSession.create(bytes, onnxSessionOptions(threads, spinning));
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
}
