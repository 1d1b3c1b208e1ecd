/** Runs a program of this CLI: every failure ends in one line on stderr and a documented exit code. */
import { CommanderError, type Command } from 'commander';
import { ModelError } from '../client/index.js';
import { describeCallError } from './call-error.js';
import { CliError, ExitCode } from './exit.js';

export async function runCli(program: Command, argv: readonly string[] = process.argv): Promise<void> {
  let prefix = program.name();
  program.hook('preAction', (_program, action) => {
    if (action !== program) prefix = `${program.name()}: ${action.name()}`;
  });
  stopQuietlyWhenStdoutCloses();
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    process.exitCode = report(error, prefix);
  }
}

/** Prints the failure (unless already printed) and returns the exit code. */
function report(error: unknown, prefix: string): number {
  if (error instanceof CommanderError) {
    // commander has printed its message (or the help, or the version) already.
    return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  }
  const exitCode = error instanceof CliError ? error.exitCode : ExitCode.CALL_FAILED;
  const message =
    error instanceof ModelError ? describeCallError(error) : error instanceof Error ? error.message : String(error);
  if (message) process.stderr.write(`${prefix}: ${message}\n`);
  if (!(error instanceof CliError || error instanceof ModelError) && process.env.XCEPTION_DEBUG) console.error(error);
  return exitCode;
}

/**
 * `xception stream --json | head`: the reader has gone, so there is nobody to tell. Node ignores SIGPIPE and raises
 * EPIPE instead; stop at once, without a stack trace, as a program killed by SIGPIPE would.
 */
function stopQuietlyWhenStdoutCloses(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(process.exitCode ?? ExitCode.OK);
  });
}
