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
  /** Workers, each with its own copy of the model: runs that can go at once (engine-instances.ts). */
  readonly instances: number;
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
  /** Intra-op threads (of each instance); defaults to the machine's cores. */
  readonly threads?: number;
  /** Workers, each with its own copy of the model and `threads` threads (engine-instances.ts); 1 by default. */
  readonly instances?: number;
  /** Told when the engine's worker fails, is replaced, or is given up on. */
  readonly health?: EngineHealthEvents;
  /** The engine may take the weights' memory (the caller must not use them afterwards): no copy of 88 MB is made. */
  readonly handOverWeights?: boolean;
}

/**
 * What an engine tells its owner about its worker. A worker that dies (or fails a run) fails the calls of that run,
 * and a fresh one is started from the model already in memory; one that keeps dying is given up on.
 */
export interface EngineHealthEvents {
  /** The worker failed; runs wait for its replacement. */
  onFault?(error: Error): void;
  /** A fresh worker is ready and takes the waiting runs. */
  onRestarted?(): void;
  /** Too many faults: no more restarts, every run fails from now on. */
  onGaveUp?(error: Error): void;
}

/** The intra-op threads an engine is asked for. */
export function requestedThreads(options: EngineOptions): number {
  const threads = options.threads ?? os.availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be a positive integer, got ${threads}`);
  return threads;
}
