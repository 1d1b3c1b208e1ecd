/**
 * The error of a run the engine could not answer because its worker failed (died, or its runtime threw), or because
 * the engine gave up on its worker. The fault is the server's, not the request's: the same request can succeed on a
 * retry (here once a fresh worker is up, or on another replica), which is why transports answer it UNAVAILABLE.
 */
export class EngineFaultError extends Error {
  override readonly name = 'EngineFaultError';

  constructor(
    message: string,
    /** What happened, in a few words ("exited with code 7"), for messages that sum up several faults. */
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
