/**
 * The TensorFlow.js engine. TensorFlow.js runs in a worker thread (tfjs-worker.ts) so inference never blocks the
 * service's event loop; the worker is supervised: one that fails is replaced from the packed weights kept here.
 */
import type { Architecture } from '../../model/architecture.js';
import { WeightsError, type WeightMap } from '../../model/weights/weight-map.js';
import { requestedThreads, type Engine, type EngineOptions } from '../engine.js';
import { startSupervisedEngine } from '../supervised-worker.js';
import type { TfjsWorkerData } from './tfjs-worker.js';
import { packWeights, type PackedWeights } from './weight-pack.js';

export async function createTfjsEngine(
  arch: Architecture,
  weights: WeightMap,
  options: EngineOptions = {},
): Promise<Engine> {
  const threads = requestedThreads(options);
  // Kept for the engine's whole life (the Xception's are about 91 MB), so that a fresh worker after a fault reads no
  // weights; each worker gets a copy.
  const packed = packWeights(arch, weights);
  try {
    return await startTfjsEngine(arch, packed, threads, options);
  } catch (error) {
    if (threads === 1 || error instanceof WeightsError) throw error;
    // The threaded wasm build runs on work-arounds (wasm-threads.ts); one thread is better than no engine.
    const reason = error instanceof Error ? error.message : String(error);
    return await startTfjsEngine(arch, packed, 1, options, `${threads} threads failed to start: ${reason}`);
  }
}

/** Starts the supervised worker; `note` is appended to the backend's description. */
function startTfjsEngine(
  arch: Architecture,
  weights: PackedWeights,
  threads: number,
  options: EngineOptions,
  note?: string,
): Promise<Engine> {
  const workerData: TfjsWorkerData = { arch, weights, threads };
  return startSupervisedEngine(
    arch,
    {
      engine: 'tfjs',
      moduleUrl: import.meta.url,
      workerBaseName: 'tfjs-worker',
      workerData,
      health: options.health,
      instances: options.instances,
    },
    note,
  );
}
