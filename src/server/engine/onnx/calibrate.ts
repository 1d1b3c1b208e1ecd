/**
 * Calibration: the int8 graph's activation ranges, measured by running the fp32 graph (with every quantisation point
 * exposed, graph.ts compileCalibrationModel) over calibration images, then choosing each tensor's range by a method:
 *
 * - minmax: the whole observed range, outliers included;
 * - percentile: clip |x| at its 99.99th percentile (one outlier no longer stretches the scale of every other value);
 * - entropy: clip |x| where the quantised distribution loses the least information (KL divergence, TensorRT's method).
 */
import type { Architecture } from '../../model/architecture.js';
import type { WeightMap } from '../../model/weights/weight-map.js';
import { requestedThreads } from '../engine.js';
import { spawnWorker } from '../spawn-worker.js';
import type { CalibrateReply, CalibrateWorkerData } from './calibrate-worker.js';
import { compileCalibrationModel } from './graph.js';
import type { ActivationRange, ActivationRanges } from './quantize.js';

export const CALIBRATION_METHODS = ['percentile', 'entropy', 'minmax'] as const;
export type CalibrationMethod = (typeof CALIBRATION_METHODS)[number];
/**
 * The server's method. On the seeded weights it kept int8 closest to fp32 on the bundled samples and within noise of
 * minmax on other photos; entropy clipped too much (README, "Precision").
 */
export const DEFAULT_CALIBRATION_METHOD: CalibrationMethod = 'percentile';

/** Histogram resolution of |x| per tensor. */
const BINS = 2048;
const PERCENTILE = 99.99;
/** The KL search tries every STRIDE-th clipping bin: the divergence changes slowly between neighbours. */
const ENTROPY_STRIDE = 8;

/** What calibration observed of one tensor over all images. */
export interface TensorStats {
  readonly min: number;
  readonly max: number;
  /** Counts of non-zero |x| in equal bins over [0, max(|min|, |max|)]. */
  readonly histogram: Float64Array;
}

export type ActivationStats = ReadonlyMap<string, TensorStats>;

export interface CollectOptions {
  readonly threads?: number;
  /** Called after each of the 2 × images runs. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** Runs the calibration graph over `images` (each one preprocessed NHWC input) in a worker thread. */
export async function collectActivationStats(
  arch: Architecture,
  weights: WeightMap,
  images: readonly Float32Array[],
  options: CollectOptions = {},
): Promise<ActivationStats> {
  if (images.length === 0) throw new Error('calibration needs at least one image');
  const { model, tensors } = compileCalibrationModel(arch, weights);
  const size = images[0]!.length;
  const packed = new Float32Array(size * images.length);
  images.forEach((image, i) => {
    if (image.length !== size) throw new Error(`calibration image ${i} has ${image.length} floats, not ${size}`);
    packed.set(image, i * size);
  });
  const workerData: CalibrateWorkerData = {
    model,
    tensors,
    images: packed,
    count: images.length,
    inputShape: [...arch.inputShape],
    threads: requestedThreads({ threads: options.threads }),
    bins: BINS,
  };
  const worker = spawnWorker(import.meta.url, 'calibrate-worker', {
    name: 'onnx-calibration',
    workerData,
    transferList: [model.buffer as ArrayBuffer, packed.buffer as ArrayBuffer],
  });
  try {
    const stats = await new Promise<CalibrateReply & { type: 'done' }>((resolve, reject) => {
      worker.on('message', (reply: CalibrateReply) => {
        if (reply.type === 'progress') options.onProgress?.(reply.done, reply.total);
        else if (reply.type === 'done') resolve(reply);
        else reject(new Error(`calibration failed: ${reply.message}`));
      });
      worker.once('error', (error) => reject(new Error(`calibration failed: ${error.message}`, { cause: error })));
      worker.once('exit', (code) => reject(new Error(`the calibration worker exited with code ${code}`)));
    });
    return new Map(stats.stats.map(({ name, ...tensor }) => [name, tensor]));
  } finally {
    await worker.terminate();
  }
}

/** Each tensor's range by `method`. */
export function activationRanges(stats: ActivationStats, method: CalibrationMethod): ActivationRanges {
  return new Map([...stats].map(([name, tensor]) => [name, chooseRange(tensor, method)]));
}

export function chooseRange(stats: TensorStats, method: CalibrationMethod): ActivationRange {
  if (method === 'minmax') return { min: stats.min, max: stats.max };
  const maxAbs = Math.max(-stats.min, stats.max);
  if (maxAbs === 0) return { min: 0, max: 0 };
  const binWidth = maxAbs / stats.histogram.length;
  const bins =
    method === 'percentile'
      ? percentileBins(stats.histogram, PERCENTILE)
      : // uint8 spends all 256 codes on a one-sided (post-ReLU) range, about half of them on each side of a two-sided one.
        entropyBins(stats.histogram, stats.min >= 0 ? 256 : 128);
  const threshold = bins * binWidth;
  return { min: Math.max(stats.min, -threshold), max: Math.min(stats.max, threshold) };
}

/** The number of leading bins that hold `percent` of the counts. */
export function percentileBins(histogram: Float64Array, percent: number): number {
  const total = histogram.reduce((a, b) => a + b, 0);
  const wanted = (total * percent) / 100;
  let sum = 0;
  for (let i = 0; i < histogram.length; i++) {
    sum += histogram[i]!;
    if (sum >= wanted) return i + 1;
  }
  return histogram.length;
}

/**
 * The number of leading bins to keep so that `levels` quantisation levels over them lose the least information: the
 * KL divergence between the clipped distribution (outliers folded into its last bin) and its quantised copy (each
 * level's mass spread evenly over that level's non-empty bins), minimised over the clipping point.
 */
export function entropyBins(histogram: Float64Array, levels: number): number {
  const n = histogram.length;
  if (n <= levels) return n;
  let best = n;
  let bestDivergence = Infinity;
  const suffix = new Float64Array(n + 1);
  for (let i = n - 1; i >= 0; i--) suffix[i] = suffix[i + 1]! + histogram[i]!;
  const reference = new Float64Array(n);
  const quantized = new Float64Array(n);
  for (let kept = levels; kept <= n; kept += ENTROPY_STRIDE) {
    reference.set(histogram.subarray(0, kept));
    reference[kept - 1]! += suffix[kept]!;
    for (let level = 0; level < levels; level++) {
      const start = Math.floor((level * kept) / levels);
      const end = level === levels - 1 ? kept : Math.floor(((level + 1) * kept) / levels);
      let mass = 0;
      let nonEmpty = 0;
      for (let i = start; i < end; i++) {
        mass += histogram[i]!;
        if (histogram[i]! > 0) nonEmpty++;
      }
      for (let i = start; i < end; i++) quantized[i] = histogram[i]! > 0 ? mass / nonEmpty : 0;
    }
    const divergence = klDivergence(reference, quantized, kept);
    if (divergence < bestDivergence) {
      bestDivergence = divergence;
      best = kept;
    }
  }
  return best;
}

/** KL(p ‖ q) over the first `length` bins, both normalised; bins q misses get a small floor, as TensorRT does. */
function klDivergence(p: Float64Array, q: Float64Array, length: number): number {
  let pSum = 0;
  let qSum = 0;
  for (let i = 0; i < length; i++) {
    pSum += p[i]!;
    qSum += q[i]!;
  }
  if (pSum === 0 || qSum === 0) return Infinity;
  const floor = 1e-4 / length;
  let divergence = 0;
  for (let i = 0; i < length; i++) {
    if (p[i]! === 0) continue;
    const pi = p[i]! / pSum;
    const qi = Math.max(q[i]! / qSum, floor);
    divergence += pi * Math.log(pi / qi);
  }
  return divergence;
}
