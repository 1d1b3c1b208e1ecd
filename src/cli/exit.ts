/** Exit codes scripts can rely on, and the error that carries one. */

export const ExitCode = {
  /** Done; for `health`: SERVING. */
  OK: 0,
  /** A call failed (server error, unreachable, deadline), a frame failed, or a download failed. */
  CALL_FAILED: 1,
  /** Bad command line: unknown option, bad value, missing argument. */
  USAGE: 2,
  /** An input file is missing or unreadable. */
  FILE: 3,
  /** `health`: the server answered, but is not SERVING (still loading, draining, unknown service). */
  NOT_SERVING: 4,
  /** Interrupted (Ctrl-C). */
  INTERRUPTED: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure the CLI reports in one line and exits with. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    readonly exitCode: ExitCodeValue,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A file problem in a few words: "no such file", "permission denied", … */
export function describeFileError(error: unknown): string {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'not a directory';
    default:
      return (error as Error).message;
  }
}
