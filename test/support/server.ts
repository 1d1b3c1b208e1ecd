/** Starts a real server on 127.0.0.1 with an ephemeral port, with the defaults a test wants. */
import { credentials } from '@grpc/grpc-js';
import { parseServerConfig, type ServerConfig } from '../../src/server/config.js';
import { createLogger } from '../../src/server/observability/logger.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { ModelServiceClient } from '../../src/gen/modelhub/v1/model_service.js';

export interface TestServer extends RunningServer {
  readonly address: string;
  readonly config: ServerConfig;
}

/** `args` are server flags, as on the command line; the test's own defaults come first so flags override them. */
export async function startTestServer(args: string[] = [], options: { waitReady?: boolean } = {}): Promise<TestServer> {
  const config = parseServerConfig(['--host', '127.0.0.1', '--port', '0', '--log-level', 'silent', ...args], {});
  const server = await startServer(config, createLogger(config.logLevel));
  if (options.waitReady !== false) await server.ready;
  return { ...server, address: `127.0.0.1:${server.port}`, config };
}

export function modelClient(address: string): ModelServiceClient {
  return new ModelServiceClient(address, credentials.createInsecure());
}
