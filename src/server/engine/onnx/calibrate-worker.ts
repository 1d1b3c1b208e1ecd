/**
 * Calibration in its own thread (ONNX Runtime computes on the calling thread; see onnx-worker.ts): runs the
 * calibration graph over the images twice — first for each exposed tensor's min and max, then for a histogram of
 * its non-zero |x| over [0, max |x|] — and reports progress after every run.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { INPUT_NAME } from './graph.js';
import { onnxSessionOptions } from './session-options.js';

export interface CalibrateWorkerData {
  readonly model: Uint8Array;
  readonly tensors: readonly string[];
  /** The images, NHWC, one after another. */
  readonly images: Float32Array;
  readonly count: number;
  /** [height, width, channels]. */
  readonly inputShape: readonly number[];
  readonly threads: number;
  readonly bins: number;
}

export interface WireTensorStats {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly histogram: Float64Array;
}

export type CalibrateReply =
  | { readonly type: 'progress'; readonly done: number; readonly total: number }
  | { readonly type: 'done'; readonly stats: readonly WireTensorStats[] }
  | { readonly type: 'failed'; readonly message: string };

const { model, tensors, images, count, inputShape, threads, bins } = workerData as CalibrateWorkerData;
const port = parentPort!;
const post = (reply: CalibrateReply, transfer: ArrayBuffer[] = []) => port.postMessage(reply, transfer);

try {
  const session = await ort.InferenceSession.create(model, onnxSessionOptions(threads));
  const size = inputShape.reduce((a, b) => a * b, 1);
  const total = 2 * count;
  const run = async (image: number): Promise<Float32Array[]> => {
    const input = new ort.Tensor('float32', images.slice(image * size, (image + 1) * size), [1, ...inputShape]);
    const results = await session.run({ [INPUT_NAME]: input }, [...tensors]);
    return tensors.map((name) => {
      const data = results[name]?.data;
      if (!(data instanceof Float32Array)) throw new Error(`the calibration graph produced no float32 '${name}'`);
      return data;
    });
  };

  const min = new Float64Array(tensors.length).fill(Infinity);
  const max = new Float64Array(tensors.length).fill(-Infinity);
  for (let image = 0; image < count; image++) {
    (await run(image)).forEach((data, t) => {
      let lo = min[t]!;
      let hi = max[t]!;
      for (let i = 0; i < data.length; i++) {
        const v = data[i]!;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new Error(`tensor ${tensors[t]} has non-finite values`);
      min[t] = lo;
      max[t] = hi;
    });
    post({ type: 'progress', done: image + 1, total });
  }

  const histograms = tensors.map(() => new Float64Array(bins));
  for (let image = 0; image < count; image++) {
    (await run(image)).forEach((data, t) => {
      const histogram = histograms[t]!;
      const maxAbs = Math.max(-min[t]!, max[t]!);
      const perUnit = maxAbs > 0 ? bins / maxAbs : 0;
      for (let i = 0; i < data.length; i++) {
        // Exact zeros (ReLU's floor, padding) are exact at any scale: counting them would only skew the choice.
        if (data[i] !== 0) histogram[Math.min(bins - 1, Math.floor(Math.abs(data[i]!) * perUnit))]! += 1;
      }
    });
    post({ type: 'progress', done: count + image + 1, total });
  }
  await session.release();
  post(
    {
      type: 'done',
      stats: tensors.map((name, t) => ({ name, min: min[t]!, max: max[t]!, histogram: histograms[t]! })),
    },
    histograms.map((h) => h.buffer as ArrayBuffer),
  );
} catch (error) {
  post({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
}
