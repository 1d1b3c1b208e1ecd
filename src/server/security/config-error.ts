/** A security setting that cannot work as given (missing pair, unreadable file, key that does not fit): start-up stops. */
export class SecurityConfigError extends Error {
  override readonly name = 'SecurityConfigError';
}
