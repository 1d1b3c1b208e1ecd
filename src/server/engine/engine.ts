/** What the scheduler needs from an inference engine; engines know nothing of transports or image formats. */
import os from 'node:os';
import type { TensorSlab } from './tensor-slab.js';

export type EngineName = 'onnx' | 'tfjs';

export interface EngineInfo {
  readonly engine: EngineName;
  /** The backend actually in use, e.g. "onnxruntime-node cpu", "tfjs wasm". */
  readonly backend: string;
  /** Threads one run uses. */
  readonly threads: number;
}

export interface Engine {
  readonly info: EngineInfo;
  /** Floats in one preprocessed image (299 × 299 × 3, NHWC, values in [−1, 1]). */
  readonly inputSize: number;
  /** Floats in one image's output (the classes' softmax probabilities). */
  readonly outputSize: number;
  /** Runs the model on the slabs' images as one batch; resolves once each slab's output is written. */
  run(batch: readonly TensorSlab[]): Promise<void>;
  /** Releases native resources; the engine is unusable afterwards. */
  close(): Promise<void>;
}

export interface EngineOptions {
  /** Intra-op threads; defaults to the machine's cores. */
  readonly threads?: number;
}

/** The intra-op threads an engine is asked for. */
export function requestedThreads(options: EngineOptions): number {
  const threads = options.threads ?? os.availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be a positive integer, got ${threads}`);
  return threads;
}
