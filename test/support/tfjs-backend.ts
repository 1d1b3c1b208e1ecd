/**
 * What a tfjs engine must report here. @tensorflow/tfjs-node is an optional dependency: where it installed, the engine
 * runs on it (TensorFlow sizes its own thread pool, one thread per core); where it did not, on the WASM backend with
 * the threads asked for. Tests assert the one that applies, so they hold on both kinds of machine.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import { MAX_WASM_THREADS } from '../../src/server/engine/tfjs/backend.js';

/** Whether tfjs-node is installed, found without loading its native library into the test process. */
export function tfjsNodeInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

/** The backend (in words) and threads of a tfjs engine asked for `threads`. */
export function expectedTfjsBackend(threads: number): { backend: string; threads: number } {
  if (tfjsNodeInstalled()) return { backend: 'tfjs-node', threads: os.availableParallelism() };
  const used = Math.min(threads, MAX_WASM_THREADS);
  return { backend: used > 1 ? `tfjs wasm (${used} threads)` : 'tfjs wasm', threads: used };
}
