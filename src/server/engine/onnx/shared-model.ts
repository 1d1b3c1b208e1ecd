/**
 * The compiled model in shared memory, written by the thread that compiles it (see off-thread.ts): the engine keeps
 * this one copy for its life and every worker it starts reads it, so 91 MB never passes through the main thread,
 * where copying (and first touching) that much memory stalls serving for a few hundred milliseconds on these VMs.
 */
import type { Architecture } from '../../model/architecture.js';
import type { WeightMap } from '../../model/weights/weight-map.js';
import { compileOnnxModel, type CompileOptions } from './graph.js';

export function compileSharedModel(arch: Architecture, weights: WeightMap, options?: CompileOptions): Uint8Array {
  const model = compileOnnxModel(arch, weights, options);
  const shared = new Uint8Array(new SharedArrayBuffer(model.byteLength));
  shared.set(model);
  return shared;
}
