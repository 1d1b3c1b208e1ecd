/** What the scheduler needs from an inference engine; engines know nothing of transports or image formats. */
import os from 'node:os';

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
  /**
   * Runs the model on `batch` preprocessed images, NHWC float32 (batch × 299 × 299 × 3, values in [−1, 1]).
   * Resolves to batch × classes softmax probabilities, row-major.
   */
  run(input: Float32Array, batch: number): Promise<Float32Array>;
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
