/**
 * The TensorFlow.js engine. TensorFlow.js runs in a worker thread (tfjs-worker.ts) so inference never blocks the
 * service's event loop.
 */
import { imageSize, type Architecture } from '../../model/architecture.js';
import { WeightsError, type WeightMap } from '../../model/weights/weight-map.js';
import { requestedThreads, type Engine, type EngineOptions } from '../engine.js';
import { WorkerClient } from '../worker-client.js';
import type { TfjsWorkerData } from './tfjs-worker.js';
import { packWeights } from './weight-pack.js';

export async function createTfjsEngine(
  arch: Architecture,
  weights: WeightMap,
  options: EngineOptions = {},
): Promise<Engine> {
  const threads = requestedThreads(options);
  try {
    return await startTfjsEngine(arch, weights, threads);
  } catch (error) {
    if (threads === 1 || error instanceof WeightsError) throw error;
    // The threaded wasm build runs on work-arounds (wasm-threads.ts); one thread is better than no engine.
    const reason = error instanceof Error ? error.message : String(error);
    return await startTfjsEngine(arch, weights, 1, `${threads} threads failed to start: ${reason}`);
  }
}

/** Sends the weights to a new worker once; `note` is appended to the backend's description. */
async function startTfjsEngine(
  arch: Architecture,
  weights: WeightMap,
  threads: number,
  note?: string,
): Promise<Engine> {
  const packed = packWeights(arch, weights);
  const workerData: TfjsWorkerData = { arch, weights: packed, threads };
  const client = await WorkerClient.start({
    engine: 'tfjs',
    moduleUrl: import.meta.url,
    workerBaseName: 'tfjs-worker',
    workerData,
    transferList: [packed.data.buffer as ArrayBuffer],
  });
  const { backend, threads: used } = client.ready;
  return {
    info: { engine: 'tfjs', backend: note === undefined ? backend : `${backend} (${note})`, threads: used },
    inputSize: imageSize(arch),
    outputSize: arch.classes,
    run: (slabs) => client.run(slabs),
    close: () => client.close(),
  };
}
