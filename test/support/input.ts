/** Helpers for tests of the input stage (decoding and raw pixels). */
import { expect } from 'vitest';
import { Code, ServiceError } from '../../src/server/errors.js';

/** How many elements differ; big arrays are compared this way because a failing toEqual would print them whole. */
export function differences(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let count = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) count++;
  return count;
}

/** The INVALID_ARGUMENT ServiceError a promise rejects with, its message matching `message` (fails the test otherwise). */
export async function expectInvalid(promise: Promise<unknown>, message: RegExp): Promise<ServiceError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ServiceError);
  const serviceError = err as ServiceError;
  expect(serviceError.code).toBe(Code.INVALID_ARGUMENT);
  expect(serviceError.message).toMatch(message);
  return serviceError;
}
