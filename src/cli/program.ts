/** The `xception` command line of the server package: the client commands, plus serve, fetch-weights, quantize and compare-precision. */
import type { Command } from 'commander';
import { buildCommandProgram, clientCommands, configureOutput, VERSION } from './client-program.js';
import { comparePrecisionCommand } from './compare-precision.js';
import { fetchWeightsCommand } from './fetch-weights.js';
import { quantizeCommand } from './quantize.js';
import { serveCommand } from './serve.js';

export function buildProgram(): Command {
  const [predict, stream, metadata, health] = clientCommands();
  return buildCommandProgram(
    'xception',
    'Keras Xception (ImageNet classification) as a gRPC service: serve it, or call a server',
    [
      serveCommand(),
      predict!,
      stream!,
      metadata!,
      health!,
      fetchWeightsCommand(),
      quantizeCommand(),
      comparePrecisionCommand(),
    ],
    { serves: true },
  );
}

/** `node dist/server/main.js` (npm start): `xception serve` on its own — the same flags, errors and exit codes. */
export function buildServeProgram(): Command {
  const serve = configureOutput(serveCommand(), 'xception').name('xception serve').version(VERSION);
  return serve;
}
