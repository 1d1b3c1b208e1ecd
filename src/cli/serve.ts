/**
 * `xception serve`: the server, with every server flag (the same table as `npm start`). The server's modules — and
 * with them ONNX Runtime, sharp, h5wasm, TensorFlow.js — load only when this command runs.
 */
import { Command } from 'commander';
import { addServerOptions, resolveServerOptions, toServerConfig, type ServerConfig } from '../server/config.js';
import { CliError, ExitCode } from './exit.js';

export function serveCommand(): Command {
  return addServerOptions(new Command('serve'))
    .description('serve Keras Xception over gRPC: Predict, PredictStream, GetMetadata, health, reflection (each flag also reads its XCEPTION_* variable)')
    .action(async (_flags: unknown, command: Command) => {
      let config: ServerConfig;
      try {
        config = toServerConfig(resolveServerOptions(command, process.env));
      } catch (error) {
        throw new CliError(ExitCode.USAGE, (error as Error).message, { cause: error });
      }
      const { run } = await import('../server/run.js');
      await run(config);
    });
}
