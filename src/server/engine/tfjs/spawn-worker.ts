/**
 * Starts the tfjs worker from compiled JavaScript (dist/.../tfjs-worker.js) or, when this module itself runs from
 * TypeScript source (vitest, tsx), from tfjs-worker.ts through tsx's loader.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

export interface WorkerEntry {
  /** A file URL, or source code when `eval` is true. */
  readonly script: URL | string;
  readonly eval: boolean;
}

/** How to start the worker module that sits next to `moduleUrl` (this module's import.meta.url). */
export function workerEntry(moduleUrl: string, workerBaseName: string): WorkerEntry {
  if (!moduleUrl.endsWith('.ts')) return { script: new URL(`./${workerBaseName}.js`, moduleUrl), eval: false };
  const workerUrl = new URL(`./${workerBaseName}.ts`, moduleUrl).href;
  // Node 20 does not apply `--import tsx` from a worker's execArgv to the worker's entry module, so a small bootstrap
  // registers tsx's ESM hooks with its documented API (tsx/esm/api register()) first, then imports the TypeScript
  // entry. The ESM build of that API, by absolute URL: the CommonJS build's register() resolves its loader wrongly.
  const tsxApi = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  return {
    script: `import(${tsxApi}).then((tsx) => { tsx.register(); return import(${JSON.stringify(workerUrl)}); });`,
    eval: true,
  };
}

export function spawnWorker(moduleUrl: string, workerBaseName: string, options: WorkerOptions): Worker {
  const entry = workerEntry(moduleUrl, workerBaseName);
  return new Worker(entry.script, { ...options, eval: entry.eval });
}
