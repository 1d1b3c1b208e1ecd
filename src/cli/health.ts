/** `xception health`: gRPC health Check; the exit code says whether the server is SERVING. */
import { Command } from 'commander';
import { addClientOptions, withClient, type ClientFlags } from './client-options.js';
import { CliError, ExitCode } from './exit.js';

export function healthCommand(): Command {
  return addClientOptions(new Command('health'), { deadlineMs: 5000 })
    .description(
      `check the server's health (grpc.health.v1): prints the status; exit ${ExitCode.OK} if SERVING, ${ExitCode.NOT_SERVING} if it answers otherwise, ${ExitCode.CALL_FAILED} if it cannot be reached`,
    )
    .option('--service <name>', 'a service to check, e.g. modelhub.v1.ModelService (default: the whole server)', '')
    .action(async (flags: ClientFlags & { service: string }) => {
      const status = await withClient(flags, (client) => client.health(flags.service));
      process.stdout.write(`${status}\n`);
      if (status !== 'SERVING') throw new CliError(ExitCode.NOT_SERVING, '');
    });
}
