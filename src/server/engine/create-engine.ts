/** Picks and builds the configured engine. Engines are imported lazily so one never loads the other's runtime. */
import type { Architecture } from '../model/architecture.js';
import type { WeightMap } from '../model/weights/weight-map.js';
import type { Engine, EngineName, EngineOptions } from './engine.js';
import type { OnnxEngineOptions } from './onnx/onnx-engine.js';

export type Precision = 'fp32' | 'int8';

/** Every engine's options, and the onnx engine's own (int8, spinning): the other engines ignore those. */
export type CreateEngineOptions = EngineOptions & Pick<OnnxEngineOptions, 'int8' | 'spinning'>;

/** Refuses a precision the engine does not implement, before anything is loaded. */
export function checkEnginePrecision(name: EngineName, precision: Precision): void {
  if (precision === 'int8' && name !== 'onnx') {
    throw new Error(
      `the ${name} engine has no int8 path: --precision int8 needs --engine onnx (or use --precision fp32)`,
    );
  }
}

/** How the server builds its engine; tests pass their own (an engine that dies on demand). */
export type EngineFactory = typeof createEngine;

export async function createEngine(
  name: EngineName,
  arch: Architecture,
  weights: WeightMap,
  options: CreateEngineOptions,
): Promise<Engine> {
  checkEnginePrecision(name, options.int8 === undefined ? 'fp32' : 'int8');
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
