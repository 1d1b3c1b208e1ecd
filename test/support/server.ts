/** Starts a real server on 127.0.0.1 with an ephemeral port, with the defaults a test wants. */
import { credentials } from '@grpc/grpc-js';
import { parseServerConfig, type ServerConfig } from '../../src/server/config.js';
import type { EngineFactory } from '../../src/server/engine/create-engine.js';
import { createLogger } from '../../src/server/observability/logger.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { ModelServiceClient } from '../../src/gen/modelhub/v1/model_service.js';

export interface TestServer extends RunningServer {
  readonly address: string;
  readonly config: ServerConfig;
}

export interface TestServerOptions {
  readonly waitReady?: boolean;
  /** Builds the engine instead of the configured one (e.g. an engine that dies on demand). */
  readonly createEngine?: EngineFactory;
  /** Receives each log record as a JSON line (pass a --log-level: the default here is silent). */
  readonly log?: (line: string) => void;
}

/** `args` are server flags, as on the command line; the test's own defaults come first so flags override them. */
export async function startTestServer(args: string[] = [], options: TestServerOptions = {}): Promise<TestServer> {
  const config = parseServerConfig(['--host', '127.0.0.1', '--port', '0', '--log-level', 'silent', ...args], {});
  const logger = createLogger(config.logLevel, options.log && { write: options.log });
  const server = await startServer(config, logger, { createEngine: options.createEngine });
  if (options.waitReady !== false) await server.ready;
  return { ...server, address: `127.0.0.1:${server.port}`, config };
}

export function modelClient(address: string): ModelServiceClient {
  return new ModelServiceClient(address, credentials.createInsecure());
}
