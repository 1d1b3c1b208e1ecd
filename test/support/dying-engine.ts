/**
 * An engine that dies on demand, for tests of fault containment. It is the production onnx engine — the same compiled
 * model, supervisor (supervised-worker.ts) and WorkerClient — except that its worker (dying-engine-worker.ts) dies when
 * a run's image starts with one of DEATH_PIXELS, and a test can hold or fail the start of fresh workers.
 */
import { existsSync } from 'node:fs';
import type { CreateEngineOptions, EngineFactory } from '../../src/server/engine/create-engine.js';
import type { Engine } from '../../src/server/engine/engine.js';
import type { Architecture } from '../../src/server/model/architecture.js';
import type { WeightMap } from '../../src/server/model/weights/weight-map.js';
import { onnxWorkerData } from '../../src/server/engine/onnx/onnx-engine.js';
import { startSupervisedEngine, type SupervisedWorkerOptions } from '../../src/server/engine/supervised-worker.js';
import { Control, DEATH_PIXELS, modelValue, newControls, type DeathKind } from './engine-deaths.js';
import type { DyingWorkerData } from './dying-engine-worker.js';
import { rgbPixels } from './images.js';
import { waitFor } from './poll.js';

export type { DeathKind } from './engine-deaths.js';

export interface DyingEngine {
  /** Builds the engine (onnx only), as the server's createEngine would. */
  readonly create: EngineFactory;
  /** While on, a fresh worker waits before it reports ready: a restart stays in progress until it is turned off. */
  holdStarts(on: boolean): void;
  /** While on, a fresh worker fails to start. */
  failStarts(on: boolean): void;
  /** While on, a run asked to die waits (in flight) before it dies. */
  holdDeaths(on: boolean): void;
  /** Workers started so far (the first one included). */
  started(): number;
  /** How many of the workers started still have a running thread. */
  liveWorkers(): number;
}

/** `supervision`: the supervisor's limits, where a test wants others than the defaults. */
export function dyingEngine(
  supervision: Pick<SupervisedWorkerOptions, 'maxFaults' | 'faultWindowMs'> = {},
): DyingEngine {
  const controls = newControls();
  const set = (slot: number, on: boolean): void => {
    Atomics.store(controls, slot, on ? 1 : 0);
  };
  const started = (): number => Atomics.load(controls, Control.started);
  return {
    create: async (name, arch, weights, options) => {
      if (name !== 'onnx') throw new Error(`the dying engine is an onnx engine, not ${name}`);
      const workerData: DyingWorkerData = { ...(await onnxWorkerData(arch, weights, options)), controls };
      return startSupervisedEngine(arch, {
        engine: 'onnx',
        moduleUrl: import.meta.url,
        workerBaseName: 'dying-engine-worker',
        workerData,
        health: options.health,
        instances: options.instances,
        ...supervision,
      });
    },
    holdStarts: (on) => set(Control.holdStarts, on),
    failStarts: (on) => set(Control.failStarts, on),
    holdDeaths: (on) => set(Control.holdDeaths, on),
    started,
    liveWorkers: () =>
      Array.from({ length: started() }, (_, i) => controls[Control.threadIds + i]).filter((threadId) =>
        existsSync(`/proc/self/task/${threadId}`),
      ).length,
  };
}

/**
 * Runs `test` on an engine the dying engine builds (one thread per instance unless `options` say otherwise), then
 * lets held starts and deaths go, closes it, and waits until none of its worker threads is left.
 */
export async function withDyingEngine(
  dying: DyingEngine,
  model: { readonly arch: Architecture; readonly weights: WeightMap },
  options: CreateEngineOptions,
  test: (engine: Engine) => Promise<void>,
): Promise<void> {
  const engine = await dying.create('onnx', model.arch, model.weights, { threads: 1, ...options });
  try {
    await test(engine);
  } finally {
    dying.holdStarts(false);
    dying.holdDeaths(false);
    await engine.close();
  }
  await waitFor(() => dying.liveWorkers() === 0, 10_000, 'every worker thread to end after close()');
}

/** One image's model input (`size` floats) that makes the worker die the `kind` way; the rest is `fill`. */
export function deathInput(kind: DeathKind, size: number, fill: Float32Array = new Float32Array(size)): Float32Array {
  const input = fill.slice(0, size);
  DEATH_PIXELS[kind].forEach((byte, c) => {
    input[c] = modelValue(byte);
  });
  return input;
}

/** A raw RGB8 frame of `width` × `height` (the model's size: no resize touches its first pixel) that kills the worker. */
export function deathFrame(kind: DeathKind, width = 299, height = 299): Buffer {
  const frame = rgbPixels(width, height);
  frame.set(DEATH_PIXELS[kind], 0);
  return frame;
}
