/** Messages between the tfjs engine (main thread) and its worker thread. Plain data: they cross postMessage. */
import type { Architecture } from '../../model/architecture.js';
import type { PackedWeights } from './weight-pack.js';

/** Sent once, as workerData, when the worker starts. */
export interface WorkerSetup {
  readonly arch: Architecture;
  readonly weights: PackedWeights;
  /** Requested intra-op threads (the wasm backend may use fewer). */
  readonly threads: number;
}

export interface RunRequest {
  readonly type: 'run';
  readonly id: number;
  /** batch × H × W × C, NHWC; its buffer is transferred. */
  readonly input: Float32Array;
  readonly batch: number;
}

export type WorkerRequest = RunRequest;

export interface ReadyMessage {
  readonly type: 'ready';
  /** The backend in use, in words: "tfjs-node", "tfjs wasm", "tfjs wasm (2 threads)". */
  readonly backend: string;
  readonly threads: number;
}

export interface InitFailedMessage {
  readonly type: 'init-failed';
  readonly error: ErrorInfo;
}

export interface RunResult {
  readonly type: 'result';
  readonly id: number;
  /** batch × classes probabilities; its buffer is transferred. */
  readonly output: Float32Array;
}

export interface RunFailed {
  readonly type: 'run-failed';
  readonly id: number;
  readonly error: ErrorInfo;
}

export type WorkerResponse = ReadyMessage | InitFailedMessage | RunResult | RunFailed;

/** An Error flattened for postMessage, keeping the name so WeightsError and friends stay recognisable. */
export interface ErrorInfo {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

export function errorInfo(error: unknown): ErrorInfo {
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack };
  // tfjs-backend-wasm rejects its init with a bare { message } object.
  if (typeof error === 'object' && error !== null && 'message' in error) {
    return { name: 'Error', message: String((error as { message: unknown }).message) };
  }
  return { name: 'Error', message: String(error) };
}
