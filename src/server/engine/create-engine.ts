/** Picks and builds the configured engine. Engines are imported lazily so one never loads the other's runtime. */
import type { Architecture } from '../model/architecture.js';
import type { WeightMap } from '../model/weights/weight-map.js';
import type { Engine, EngineName, EngineOptions } from './engine.js';

export async function createEngine(
  name: EngineName,
  arch: Architecture,
  weights: WeightMap,
  options: EngineOptions,
): Promise<Engine> {
  switch (name) {
    case 'onnx': {
      const { createOnnxEngine } = await import('./onnx/onnx-engine.js');
      return createOnnxEngine(arch, weights, options);
    }
    case 'tfjs': {
      const { createTfjsEngine } = await import('./tfjs/tfjs-engine.js');
      return createTfjsEngine(arch, weights, options);
    }
  }
}
