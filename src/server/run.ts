/** Serve a configuration until SIGTERM/SIGINT: start-up failures in one line, logs as JSON (or human lines on a terminal). */
import { setLogger } from '@grpc/grpc-js';
import { buildServeProgram } from '../cli/program.js';
import { runCli } from '../cli/run-cli.js';
import type { ServerConfig } from './config.js';
import { createLogger, terminalLog, type Logger } from './observability/logger.js';
import { SecurityConfigError } from './security/config-error.js';
import { startServer } from './server.js';

/** `xception serve [flags]` with these flags (what `npm start` runs): the same parsing, errors and exit codes. */
export async function serve(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  await runCli(buildServeProgram(), [process.argv0, 'xception', ...argv]);
}

export interface RunOptions {
  /** Human log lines and a one-line start-up error instead of JSON; default: whether stdout is a terminal. */
  readonly terminal?: boolean;
}

export async function run(config: ServerConfig, options: RunOptions = {}): Promise<void> {
  const terminal = options.terminal ?? Boolean(process.stdout.isTTY);
  const output = terminal ? terminalLog(process.stdout) : undefined;
  const logger = createLogger(config.logLevel, output);
  routeGrpcLogs(logger);
  const loading = terminal && process.stderr.isTTY ? transientStatus('xception: starting…') : undefined;

  /** The reason start-up failed, in one line (a human one on a terminal), then the exit code. */
  const failed = (error: unknown): void => {
    loading?.clear();
    const message = `cannot start: ${startupFailure(error)}`;
    if (output) {
      output.close();
      process.stderr.write(`xception: ${message}\n`);
    } else {
      logger.fatal(message);
    }
  };

  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(config, logger);
  } catch (error) {
    // A port in use, unusable TLS files or tokens; a configuration mistake exits 2 like a bad flag.
    failed(error);
    process.exit(error instanceof SecurityConfigError ? 2 : 1);
  }
  server.ready.then(
    () => {
      loading?.clear();
      output?.release();
    },
    (error: unknown) => {
      failed(error);
      server.shutdown(0).finally(() => process.exit(1));
    },
  );

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    loading?.clear();
    output?.release();
    logger.info({ signal, gracePeriodSeconds: config.gracePeriodSeconds }, 'draining');
    server.shutdown().then((clean) => process.exit(clean ? 0 : 1));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // SIGHUP reloads the weights without downtime; the reloader logs and counts the outcome.
  process.on('SIGHUP', () => {
    server.reloadWeights('signal').catch(() => {});
  });
}

/** Why start-up failed, in the user's terms: grpc-js words a port in use as "No address added out of total 1…". */
function startupFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const listen = /listen (EADDRINUSE|EACCES): [^[\]]*?(\S+:\d+)\]?$/.exec(message);
  if (listen?.[1] === 'EADDRINUSE')
    return `${listen[2]} is already in use (another process listens there; choose another port)`;
  if (listen?.[1] === 'EACCES') return `no permission to listen on ${listen[2]} (ports below 1024 need privileges)`;
  return message;
}

/**
 * grpc-js's own log lines ("E No address added out of total 1 resolved") go through the server's logger rather than
 * raw to stderr; whatever stops start-up is also reported as the failure itself.
 */
function routeGrpcLogs(logger: Logger): void {
  const grpcLogger = logger.child({ component: 'grpc-js' });
  setLogger({
    error: (message: string) => grpcLogger.warn(message),
    info: (message: string) => grpcLogger.info(message),
    debug: (message: string) => grpcLogger.debug(message),
  });
}

/** A status line on a terminal's stderr, erased when done. */
function transientStatus(text: string): { clear(): void } {
  process.stderr.write(text);
  let shown = true;
  return {
    clear() {
      if (shown) process.stderr.write('\r\x1b[2K');
      shown = false;
    },
  };
}
