#!/usr/bin/env node
/** `xception <command>`: runs the command; every failure ends in one line on stderr and a documented exit code. */
import { CommanderError } from 'commander';
import { ModelError } from '../client/index.js';
import { CliError, ExitCode } from './exit.js';
import { buildProgram } from './program.js';

const program = buildProgram();
let command = 'xception';
program.hook('preAction', (_program, action) => { command = action.name(); });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = report(error);
}

/** Prints the failure (unless already printed) and returns the exit code. */
function report(error: unknown): number {
  if (error instanceof CommanderError) {
    // commander has printed its message (or the help, or the version) already.
    return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  }
  const exitCode = error instanceof CliError ? error.exitCode : ExitCode.CALL_FAILED;
  const message = error instanceof Error ? error.message : String(error);
  if (message) process.stderr.write(`xception: ${command}: ${message}\n`);
  if (!(error instanceof CliError || error instanceof ModelError) && process.env.XCEPTION_DEBUG) console.error(error);
  return exitCode;
}
