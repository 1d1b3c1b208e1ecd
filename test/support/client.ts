/** Helpers for tests of the typed client. */
import { expect } from 'vitest';
import { ModelError } from '../../src/client/index.js';

/** The ModelError a call fails with (fails the test if it succeeds or throws something else). */
export async function failure(promise: Promise<unknown>): Promise<ModelError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ModelError);
  return error as ModelError;
}
