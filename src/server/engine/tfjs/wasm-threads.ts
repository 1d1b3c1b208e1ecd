/**
 * Makes tfjs-backend-wasm's threaded build (Emscripten pthreads + XNNPACK's thread pool) run under Node, which the
 * package itself does not support (tensorflow/tfjs#3830): in Node it reports no thread support, and even when told
 * otherwise it starts its pthread workers from blob: URLs, which Node's worker_threads cannot load. Three
 * work-arounds, all confined to the tfjs worker thread that calls them (builtin modules and globals are per thread):
 *
 * 1. The pthread workers run the package's own worker script (wasm-out/*.worker.js) as eval'd code, and load the
 *    package's own Emscripten glue (wasm-out/*-threaded-simd.js) by path instead of from a Blob.
 * 2. The global `Worker` that Emscripten assigns (`global.Worker = worker_threads.Worker`) is pinned to (1).
 * 3. The backend caps its pool at half the logical cores (it assumes hyper-threading), so on a 2-core machine it
 *    would use one thread whatever it is asked; `os.cpus()` reports 2 × threads while the module initialises.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { Worker, type TransferListItem } from 'node:worker_threads';

const require = createRequire(import.meta.url);

/** Where @tensorflow/tfjs-backend-wasm is installed. */
export function wasmPackageDir(): string {
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
}

/** The folder with the .wasm binaries, as setWasmPaths wants it (a file path with a trailing separator). */
export function wasmBinariesDir(): string {
  return path.join(wasmPackageDir(), 'dist') + path.sep;
}

/**
 * Prepares this thread for the threaded build; call before `tf.setBackend('wasm')`, and call the returned function
 * (which restores `os.cpus`) once the backend is ready.
 */
export function prepareWasmThreads(threads: number): () => void {
  const outDir = path.join(wasmPackageDir(), 'wasm-out');
  const { wasmWorkerContents } = require(path.join(outDir, 'tfjs-backend-wasm-threaded-simd.worker.js')) as {
    wasmWorkerContents: string;
  };
  // The script is stored in a template literal, which turned its "\n" escapes into real newlines; tfjs escapes them
  // back the same way before making its Blob.
  const workerSource = wasmWorkerContents.replace(/\n/g, '\\n');
  const glueScript = path.join(outDir, 'tfjs-backend-wasm-threaded-simd.js');

  class PthreadWorker extends Worker {
    constructor() {
      super(workerSource, { eval: true });
    }

    override postMessage(message: unknown, transferList?: readonly TransferListItem[]): void {
      // 'load' carries the main script as a Blob of tfjs' bundled (rollup-rewritten) glue; point it at the file.
      super.postMessage(isLoadCommand(message) ? { ...message, urlOrBlob: glueScript } : message, transferList);
    }
  }

  // Stays pinned after initialisation: Emscripten looks the constructor up again whenever its pool grows.
  Object.defineProperty(globalThis, 'Worker', {
    configurable: true,
    get: () => PthreadWorker,
    set: () => {},
  });

  const cpus = os.cpus;
  // Only the count matters to Emscripten.
  const sample: os.CpuInfo = cpus()[0] ?? {
    model: 'unknown',
    speed: 0,
    times: { user: 0, nice: 0, sys: 0, idle: 0, irq: 0 },
  };
  os.cpus = () => Array.from({ length: 2 * threads }, () => sample);

  return () => {
    os.cpus = cpus;
  };
}

function isLoadCommand(message: unknown): message is Record<string, unknown> {
  return typeof message === 'object' && message !== null && (message as { cmd?: unknown }).cmd === 'load';
}
