/** The `xception` command line: its commands, help and the exit codes they share. */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { ExitCode } from './exit.js';
import { fetchWeightsCommand } from './fetch-weights.js';
import { healthCommand } from './health.js';
import { metadataCommand } from './metadata.js';
import { predictCommand } from './predict.js';
import { serveCommand } from './serve.js';
import { streamCommand } from './stream.js';

const VERSION: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;

export const EXIT_CODES_HELP = `
Exit codes:
  ${ExitCode.OK}    ok (health: SERVING)
  ${ExitCode.CALL_FAILED}    a call failed: server error, unreachable, deadline; a frame or a download failed
  ${ExitCode.USAGE}    usage error: unknown command or option, bad value
  ${ExitCode.FILE}    an input file is missing or unreadable
  ${ExitCode.NOT_SERVING}    health: the server answered but is not SERVING
  ${ExitCode.INTERRUPTED}  interrupted (Ctrl-C)

Client commands read XCEPTION_ADDRESS and XCEPTION_TOKEN; serve reads the XCEPTION_* variables its --help lists.`;

const SHORT_EXIT_CODES_HELP = `
Exit codes: ${ExitCode.OK} ok, ${ExitCode.CALL_FAILED} call failed, ${ExitCode.USAGE} usage error, ${ExitCode.FILE} file missing or unreadable, \
${ExitCode.NOT_SERVING} not serving (health), ${ExitCode.INTERRUPTED} interrupted — see xception --help.`;

export function buildProgram(): Command {
  const program = new Command('xception')
    .description('Keras Xception (ImageNet classification) as a gRPC service: serve it, or call a server')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ outputError: (text, write) => write(`xception: ${text.replace(/^error: /, '')}`) })
    .addHelpText('after', EXIT_CODES_HELP);
  for (const command of [serveCommand(), predictCommand(), streamCommand(), metadataCommand(), healthCommand(), fetchWeightsCommand()]) {
    command.copyInheritedSettings(program);
    command.addHelpText('after', SHORT_EXIT_CODES_HELP);
    program.addCommand(command);
  }
  return program;
}
