/**
 * What the engine tests on the dying engine share: a small network of Xception's kinds of layers (workers start in a
 * moment) with one image and its reference answer, runs that answer or kill the worker, the engine's health events
 * in order, and the checks of an answer and of a fault.
 */
import { expect } from 'vitest';
import type { Engine, EngineHealthEvents } from '../../src/server/engine/engine.js';
import { EngineFaultError } from '../../src/server/engine/engine-fault.js';
import { runTensors } from '../../src/server/engine/tensor-slab.js';
import { Code, toServiceError } from '../../src/server/errors.js';
import { imageSize } from '../../src/server/model/architecture.js';
import { deathInput, type DeathKind } from './dying-engine.js';
import { tinyXception } from './hdf5-writer.js';
import { evaluateReference, prng, randomWeights, uniform } from './reference-model.js';

export const tinyModel = (() => {
  const arch = tinyXception(10);
  const weights = randomWeights(arch, 3);
  const size = imageSize(arch);
  const image = uniform(prng(9), size, -1, 1);
  return { arch, weights, size, image, expected: evaluateReference(arch, weights, image, 1) };
})();

/** One run of the tiny model's image (or `input`). */
export const run = (engine: Engine, input = tinyModel.image): Promise<Float32Array> => runTensors(engine, input, 1);

/** A run whose worker dies the `kind` way (once let go, while the dying engine holds deaths). */
export const kill = (engine: Engine, kind: DeathKind): Promise<Float32Array> =>
  run(engine, deathInput(kind, tinyModel.size, tinyModel.image));

/** The tiny model's answer to its image, within float error of the reference. */
export function expectCorrect(output: Float32Array): void {
  const { arch, expected } = tinyModel;
  expect(output).toHaveLength(arch.classes);
  let max = 0;
  for (let i = 0; i < output.length; i++) max = Math.max(max, Math.abs(output[i]! - expected[i]!));
  expect(max).toBeLessThan(1e-5);
}

/** The engine's health events, in order. */
export function healthLog(): {
  readonly events: string[];
  readonly errors: Error[];
  readonly health: EngineHealthEvents;
} {
  const events: string[] = [];
  const errors: Error[] = [];
  return {
    events,
    errors,
    health: {
      onFault: (error) => {
        events.push('fault');
        errors.push(error);
      },
      onRestarted: () => events.push('restarted'),
      onGaveUp: (error) => {
        events.push('gaveUp');
        errors.push(error);
      },
    },
  };
}

/** The error `promise` rejects with (fails the test when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => expect.unreachable('the run succeeded') as never,
    (error: Error) => error,
  );
}

/** The EngineFaultError a run rejects with, its message matching `message`; transports answer it UNAVAILABLE. */
export async function expectFault(promise: Promise<unknown>, message: RegExp): Promise<EngineFaultError> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(EngineFaultError);
  expect(error.message).toMatch(message);
  expect(toServiceError(error).code).toBe(Code.UNAVAILABLE);
  return error as EngineFaultError;
}
