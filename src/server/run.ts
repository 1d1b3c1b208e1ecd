/** Parse the server's configuration from argv and env, serve, and shut down on SIGTERM/SIGINT. */
import { Command } from 'commander';
import { addServerOptions, resolveServerConfig, type ServerConfig } from './config.js';
import { createLogger } from './observability/logger.js';
import { SecurityConfigError } from './security/config-error.js';
import { startServer, VERSION } from './server.js';

export async function serve(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const command = addServerOptions(new Command('xception-server'))
    .description('Serve Keras Xception (ImageNet classification) over gRPC: Predict, PredictStream, GetMetadata, health, reflection')
    .version(VERSION);
  await run(resolveServerConfig(command.parse([...argv], { from: 'user' }), process.env));
}

export async function run(config: ServerConfig): Promise<void> {
  const logger = createLogger(config.logLevel);
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(config, logger);
  } catch (error) {
    // One clear line (a port in use, unusable TLS files or tokens); a configuration mistake exits 2 like a bad flag.
    logger.fatal(`cannot start: ${(error as Error).message}`);
    process.exit(error instanceof SecurityConfigError ? 2 : 1);
  }
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    logger.info({ signal, gracePeriodSeconds: config.gracePeriodSeconds }, 'draining');
    server.shutdown().then((clean) => process.exit(clean ? 0 : 1));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  server.ready.catch((error: Error) => {
    logger.fatal({ err: error }, `cannot start: ${error.message}`);
    server.shutdown(0).finally(() => process.exit(1));
  });
}
