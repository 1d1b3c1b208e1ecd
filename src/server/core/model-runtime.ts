/**
 * The assembled model: contributor files, weights (and an honest account of them), and a warmed-up engine.
 * Built once at start-up, before health says SERVING.
 */
import type { ServerConfig } from '../config.js';
import { loadContrib, type Contrib } from '../contrib.js';
import { createEngine } from '../engine/create-engine.js';
import type { Engine } from '../engine/engine.js';
import { runTensors } from '../engine/tensor-slab.js';
import { xception, type Architecture } from '../model/architecture.js';
import { resolveWeights } from '../model/weights/resolve.js';
import type { LoadedWeights } from '../model/weights/weight-map.js';
import type { Logger } from '../observability/logger.js';

export interface ModelRuntime {
  readonly contrib: Contrib;
  readonly arch: Architecture;
  /** Where the weights came from; the tensors themselves now live in the engine. */
  readonly weights: Omit<LoadedWeights, 'weights'>;
  readonly engine: Engine;
  /** Build and warm-up timings, ms. */
  readonly timings: { readonly weightsMs: number; readonly engineMs: number; readonly warmupMs: number };
}

export async function loadModelRuntime(config: ServerConfig, logger: Logger): Promise<ModelRuntime> {
  const contrib = await loadContrib(config.contribDir);
  const arch = xception(contrib.labels.length);

  let started = performance.now();
  const loaded = await resolveWeights({
    weightsPath: config.weights,
    requirePretrained: config.requirePretrained,
    seed: config.seed,
    contribDir: config.contribDir,
    arch,
  });
  const weightsMs = performance.now() - started;
  const { weights, ...provenance } = loaded;
  if (!loaded.pretrained) {
    logger.warn({ seed: loaded.seed, sha256: loaded.sha256 },
      'NOT PRETRAINED: serving seeded random weights; predictions are meaningless. ' +
      'Run `npx xception fetch-weights` (or pass --weights PATH) for the real ImageNet weights.');
  } else {
    logger.info({ source: loaded.source, format: loaded.format, sha256: loaded.sha256 }, 'weights loaded');
  }

  started = performance.now();
  const engine = await createEngine(config.engine, arch, weights, { threads: config.threads });
  const engineMs = performance.now() - started;

  // One run before serving, so the first caller does not pay for lazy initialisation.
  started = performance.now();
  await runTensors(engine, new Float32Array(engine.inputSize), 1);
  const warmupMs = performance.now() - started;
  logger.info({ ...engine.info, weightsMs: Math.round(weightsMs), engineMs: Math.round(engineMs), warmupMs: Math.round(warmupMs) }, 'engine ready');

  return { contrib, arch, weights: provenance, engine, timings: { weightsMs, engineMs, warmupMs } };
}
