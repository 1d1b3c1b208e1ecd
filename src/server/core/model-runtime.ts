/**
 * The assembled model: contributor files, weights (and an honest account of them), and a warmed-up engine — fp32, or
 * int8 with its activation ranges calibrated (or read from the calibration cache). Built once at start-up, before
 * health says SERVING.
 */
import type { ServerConfig } from '../config.js';
import { loadContrib, type Contrib } from '../contrib.js';
import { checkEnginePrecision, createEngine, type EngineFactory, type Precision } from '../engine/create-engine.js';
import type { Engine, EngineHealthEvents } from '../engine/engine.js';
import {
  calibrationMetadata,
  int8Calibration,
  type CalibrationInfo,
  type Int8Calibration,
} from '../engine/onnx/calibration.js';
import { int8Support } from '../engine/onnx/cpu-features.js';
import { runTensors } from '../engine/tensor-slab.js';
import { inputLimitsFromConfig } from '../input/limits.js';
import { xception, type Architecture } from '../model/architecture.js';
import type { ResolveWeightsOptions } from '../model/weights/resolve.js';
import { offThread, siblingModule } from '../engine/off-thread.js';
import type { LoadedWeights } from '../model/weights/weight-map.js';
import type { Logger } from '../observability/logger.js';

export interface ModelRuntime {
  readonly contrib: Contrib;
  readonly arch: Architecture;
  /** Where the weights came from; the tensors themselves now live in the engine. */
  readonly weights: Omit<LoadedWeights, 'weights'>;
  readonly engine: Engine;
  readonly precision: Precision;
  /** int8: the images its activation ranges were calibrated on. */
  readonly calibration?: CalibrationInfo;
  /** Build and warm-up timings, ms (calibration: 0 when the ranges came from the cache). */
  readonly timings: {
    readonly weightsMs: number;
    readonly calibrationMs: number;
    readonly engineMs: number;
    readonly warmupMs: number;
  };
}

export interface RuntimeOptions {
  /** Builds the engine; default: the configured one (tests pass an engine that dies on demand). */
  readonly createEngine?: EngineFactory;
  /** Told when the engine's worker fails, is replaced, or is given up on. */
  readonly health?: EngineHealthEvents;
}

export async function loadModelRuntime(
  config: ServerConfig,
  logger: Logger,
  options: RuntimeOptions = {},
): Promise<ModelRuntime> {
  checkEnginePrecision(config.engine, config.precision);
  const contrib = await loadContrib(config.contribDir);
  const arch = xception(contrib.labels.length);
  const weights = await loadWeights(config, arch, logger);
  return buildModelRuntime(config, logger, { contrib, arch }, weights, options);
}

/** Weights read and checked against the architecture, with how long that took. */
export interface TimedWeights {
  readonly loaded: LoadedWeights;
  readonly ms: number;
}

/** The configured weights (--weights, else the contributor's model.h5, else seeded random, said loudly). */
export async function loadWeights(config: ServerConfig, arch: Architecture, logger: Logger): Promise<TimedWeights> {
  const started = performance.now();
  // In a thread of its own: reading an 88 MB HDF5 file takes seconds, which would stall serving during a reload.
  const loaded = await offThread<LoadedWeights>(
    siblingModule(import.meta.url, '../model/weights/resolve'),
    'resolveWeights',
    [
      {
        weightsPath: config.weights,
        requirePretrained: config.requirePretrained,
        seed: config.seed,
        contribDir: config.contribDir,
        arch,
      } satisfies ResolveWeightsOptions,
    ],
  );
  const ms = performance.now() - started;
  if (!loaded.pretrained) {
    logger.warn(
      { seed: loaded.seed, sha256: loaded.sha256 },
      'NOT PRETRAINED: serving seeded random weights; predictions are meaningless. ' +
        'Run `npx xception fetch-weights` (or pass --weights PATH) for the real ImageNet weights.',
    );
  } else {
    logger.info({ source: loaded.source, format: loaded.format, sha256: loaded.sha256 }, 'weights loaded');
  }
  return { loaded, ms };
}

/** An engine built on `weights` (calibrated first for int8) and warmed up. */
export async function buildModelRuntime(
  config: ServerConfig,
  logger: Logger,
  { contrib, arch }: Pick<ModelRuntime, 'contrib' | 'arch'>,
  { loaded, ms: weightsMs }: TimedWeights,
  options: RuntimeOptions = {},
): Promise<ModelRuntime> {
  const { weights, ...provenance } = loaded;
  let started = performance.now();
  const int8 = config.precision === 'int8' ? await calibrateInt8(config, contrib, arch, loaded, logger) : undefined;
  const calibrationMs = int8?.cache.hit === false ? performance.now() - started : 0;

  started = performance.now();
  const engine = await (options.createEngine ?? createEngine)(config.engine, arch, weights, {
    threads: config.threads,
    instances: config.engineInstances,
    spinning: config.onnxSpinning,
    health: options.health,
    // Nothing reads the weights after the engine is built (int8 calibrated above).
    handOverWeights: true,
    int8: int8 && { ranges: int8.ranges, metadata: calibrationMetadata(int8) },
  });
  const engineMs = performance.now() - started;

  // One run per instance before serving (at once: each goes to an idle one), so no caller pays for lazy initialisation.
  started = performance.now();
  try {
    const blank = new Float32Array(engine.inputSize);
    await Promise.all(Array.from({ length: engine.info.instances }, () => runTensors(engine, blank, 1)));
  } catch (error) {
    await engine.close();
    throw error;
  }
  const warmupMs = performance.now() - started;
  logger.info(
    {
      ...engine.info,
      precision: config.precision,
      weightsMs: Math.round(weightsMs),
      calibrationMs: Math.round(calibrationMs),
      engineMs: Math.round(engineMs),
      warmupMs: Math.round(warmupMs),
    },
    'engine ready',
  );

  const calibration = int8 && { source: int8.source, images: int8.images, sha256: int8.sha256, method: int8.method };
  return {
    contrib,
    arch,
    weights: provenance,
    engine,
    precision: config.precision,
    calibration,
    timings: { weightsMs, calibrationMs, engineMs, warmupMs },
  };
}

/** The int8 graph's activation ranges (cached or calibrated now), with a warning where int8 may not pay. */
async function calibrateInt8(
  config: ServerConfig,
  contrib: Contrib,
  arch: Architecture,
  weights: LoadedWeights,
  logger: Logger,
): Promise<Int8Calibration> {
  const support = await int8Support();
  if (support.flags.length === 0) {
    logger.warn(
      { cpu: support.known ? 'no int8 dot-product flags' : 'flags unknown' },
      'int8 without VNNI: this CPU shows none of avx512_vnni, avx_vnni, amx_int8 (or Arm dot product); ' +
        "ONNX Runtime's int8 convolutions may run slower than fp32 here. Measure with `npm run bench:engine`, or use --precision fp32.",
    );
  }
  const calibration = await int8Calibration({
    arch,
    weights,
    contribDir: config.contribDir,
    calibrationDir: config.calibrationDir,
    limits: inputLimitsFromConfig(contrib.config, { maxInputPixels: config.maxInputPixels }),
    threads: config.threads,
  });
  const { source, images, sha256, method, cache } = calibration;
  if (cache.hit)
    logger.info(
      { source, images, sha256, method, cache: cache.path },
      'int8 activation ranges from the calibration cache',
    );
  else logger.info({ source, images, sha256, method, cache: cache.path }, 'int8 activation ranges calibrated');
  if (cache.writeError !== undefined) {
    logger.warn(
      { cache: cache.path, error: cache.writeError },
      'could not write the calibration cache: every start will calibrate again',
    );
  }
  return calibration;
}
