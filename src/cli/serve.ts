/**
 * `xception serve`: the server, with every server flag (the same table as `npm start`). The server's modules — and
 * with them ONNX Runtime, sharp, h5wasm, TensorFlow.js — load only when this command runs.
 */
import { Command } from 'commander';
import { addServerOptions, resolveServerConfig } from '../server/config.js';

export function serveCommand(): Command {
  return addServerOptions(new Command('serve'))
    .description(
      'serve Keras Xception over gRPC: Predict, PredictStream, GetMetadata, health, reflection (each flag also reads its XCEPTION_* variable)',
    )
    .action(async (_flags: unknown, command: Command) => {
      const config = resolveServerConfig(command, process.env);
      const { run } = await import('../server/run.js');
      await run(config);
    });
}
