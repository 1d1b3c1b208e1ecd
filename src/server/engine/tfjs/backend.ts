/**
 * Picks the TensorFlow.js backend inside the worker: the native tfjs-node binding when it is installed (an optional
 * dependency), else the WebAssembly backend, threaded when more than one thread is asked for.
 */
import os from 'node:os';
import type { Tf } from './compile.js';
import { prepareWasmThreads, wasmBinariesDir } from './wasm-threads.js';

export interface Backend {
  readonly tf: Tf;
  /** In words, for EngineInfo.backend. */
  readonly name: string;
  readonly threads: number;
}

/** The most threads the wasm backend's thread pool takes (its Emscripten build pre-creates 8 pthread workers). */
export const MAX_WASM_THREADS = 8;

export async function initBackend(threads: number): Promise<Backend> {
  return (await initTfjsNode()) ?? (await initWasm(threads));
}

async function initTfjsNode(): Promise<Backend | undefined> {
  // A variable specifier keeps TypeScript from resolving a package that is usually absent.
  const specifier = '@tensorflow/tfjs-node';
  let tf: Tf;
  try {
    tf = (await import(specifier)) as Tf;
  } catch {
    return undefined;
  }
  if (!(await tf.setBackend('tensorflow'))) return undefined;
  await tf.ready();
  // TensorFlow sizes its own intra-op pool (one thread per core); tfjs-node offers no way to set it.
  return { tf, name: 'tfjs-node', threads: os.availableParallelism() };
}

async function initWasm(threads: number): Promise<Backend> {
  const tf = await import('@tensorflow/tfjs');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const requested = Math.min(threads, MAX_WASM_THREADS);
  const threaded = requested > 1;

  wasm.setWasmPaths(wasmBinariesDir());
  // The flag decides which binary loads: the threaded SIMD build, or the plain SIMD one (no pthread workers).
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', threaded);
  wasm.setThreadsCount(requested);
  const restore = threaded ? prepareWasmThreads(requested) : undefined;
  try {
    if (!(await tf.setBackend('wasm'))) throw new Error('the tfjs wasm backend failed to initialise');
    await tf.ready();
  } finally {
    restore?.();
  }
  const actual = wasm.getThreadsCount();
  return { tf, name: actual > 1 ? `tfjs wasm (${actual} threads)` : 'tfjs wasm', threads: actual };
}
