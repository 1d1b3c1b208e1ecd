/**
 * The client commands (predict, stream, metadata, health) as a program of their own — `xception-client`, shipped in the
 * light client package — and the settings every program of this CLI shares: error lines, help, exit codes. Nothing
 * here loads the server or its dependencies.
 */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { ExitCode } from './exit.js';
import { healthCommand } from './health.js';
import { metadataCommand } from './metadata.js';
import { predictCommand } from './predict.js';
import { streamCommand } from './stream.js';

/** The version of the package this file ships in (the server package, or xception-client: both keep dist/cli/). */
export const VERSION: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;

function exitCodesHelp(serves: boolean): string {
  return `
Exit codes:
  ${ExitCode.OK}    ok (health: SERVING)
  ${ExitCode.CALL_FAILED}    a call failed: server error, unreachable, deadline; a frame${serves ? ' or a download' : ''} failed
  ${ExitCode.USAGE}    usage error: unknown command or option, bad value
  ${ExitCode.FILE}    an input file is missing or unreadable
  ${ExitCode.NOT_SERVING}    health: the server answered but is not SERVING
  ${ExitCode.INTERRUPTED}  interrupted (Ctrl-C)

Client commands read XCEPTION_ADDRESS and XCEPTION_TOKEN${serves ? '; serve reads the XCEPTION_* variables its --help lists' : ''}.`;
}

function shortExitCodesHelp(programName: string): string {
  return `
Exit codes: ${ExitCode.OK} ok, ${ExitCode.CALL_FAILED} call failed, ${ExitCode.USAGE} usage error, ${ExitCode.FILE} file missing or unreadable, \
${ExitCode.NOT_SERVING} not serving (health), ${ExitCode.INTERRUPTED} interrupted — see ${programName} --help.`;
}

/** Error lines as `<program>: <message>`, commander's exit codes turned into ours by runCli. */
export function configureOutput(command: Command, programName: string): Command {
  return command
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ outputError: (text, write) => write(`${programName}: ${text.replace(/^error: /, '')}`) });
}

/** A program named `name` with `commands`, the shared settings and the exit-code help. */
export function buildCommandProgram(
  name: string,
  description: string,
  commands: readonly Command[],
  options: { serves: boolean },
): Command {
  const program = configureOutput(new Command(name), name)
    .description(description)
    .version(VERSION)
    .addHelpText('after', exitCodesHelp(options.serves));
  for (const command of commands) {
    command.copyInheritedSettings(program);
    command.addHelpText('after', shortExitCodesHelp(name));
    program.addCommand(command);
  }
  return program;
}

export function clientCommands(): Command[] {
  return [predictCommand(), streamCommand(), metadataCommand(), healthCommand()];
}

/** `xception-client`: call a server without installing it. */
export function buildClientProgram(): Command {
  return buildCommandProgram(
    'xception-client',
    'Call a Keras Xception (ImageNet classification) gRPC server: predict, stream, metadata, health',
    clientCommands(),
    { serves: false },
  );
}
