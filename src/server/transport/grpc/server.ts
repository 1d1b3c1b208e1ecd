/**
 * The gRPC server: ModelService, AdminService, the Open Inference Protocol, gRPC health (grpc.health.v1) and
 * reflection on one port.
 * Health answers for "" (the whole server) and for "modelhub.v1.ModelService".
 * Security (security/): TLS or mutual TLS from the credentials; bearer tokens by an interceptor, before any handler.
 */
import { Server, ServerCredentials, type ServerInterceptor, type ServerOptions } from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import { AdminServiceService } from '../../../gen/modelhub/v1/admin.js';
import { ModelServiceService } from '../../../gen/modelhub/v1/model_service.js';
import { bearerAuthInterceptor } from '../../security/grpc-auth.js';
import type { SecuritySettings } from '../../security/security.js';
import type { TlsMaterial } from '../../security/tls.js';
import { requireService, type TransportContext } from '../../core/transport-context.js';
import { addOipService } from '../oip/grpc.js';
import { adminService } from './admin.js';
import { advertiseStreamWindow, DEFAULT_HTTP2_WINDOW, widenConnectionWindows } from './flow-control.js';
import { bidi, unary } from './handle.js';
import { predict } from './predict.js';
import { predictStream } from './predict-stream.js';
import { createReflectionService, loadDescriptorSet } from './reflection.js';

export const SERVICE_NAME = 'modelhub.v1.ModelService';

export interface GrpcServerOptions {
  readonly host: string;
  readonly port: number;
  readonly maxMessageBytes: number;
  /** HTTP/2 receive window per connection and per stream (flow-control.ts); absent: Node's 64 KiB. */
  readonly http2WindowBytes?: number;
  /** Close each connection after this long (with a grace for its calls), so clients re-resolve and find new replicas. */
  readonly maxConnectionAgeMs?: number;
  /** TLS and tokens; absent: plaintext, no authentication. */
  readonly security?: SecuritySettings;
}

export interface GrpcServer {
  readonly server: Server;
  readonly port: number;
  setHealth(status: ServingStatus): void;
}

export async function startGrpcServer(context: TransportContext, options: GrpcServerOptions): Promise<GrpcServer> {
  const interceptors: ServerInterceptor[] = [];
  const tokens = options.security?.tokens;
  if (tokens) {
    interceptors.push(
      bearerAuthInterceptor({
        verifier: tokens,
        publicReflection: options.security!.publicReflection,
        logger: context.logger,
        metrics: context.metrics,
      }),
    );
  }
  const serverOptions: ServerOptions = {
    'grpc.max_receive_message_length': options.maxMessageBytes,
    'grpc.max_send_message_length': -1,
    ...(options.maxConnectionAgeMs
      ? {
          'grpc.max_connection_age_ms': options.maxConnectionAgeMs,
          'grpc.max_connection_age_grace_ms': 30_000,
        }
      : {}),
    interceptors,
  };
  const server = new Server(serverOptions);
  const windowBytes = options.http2WindowBytes ?? DEFAULT_HTTP2_WINDOW;
  const windowProblem = advertiseStreamWindow(server, windowBytes);
  server.addService(ModelServiceService, {
    getMetadata: unary(context, 'GetMetadata', () => requireService(context).metadata()),
    predict: unary(context, 'Predict', predict(context)),
    predictStream: bidi(context, 'PredictStream', predictStream(context)),
  });
  server.addService(AdminServiceService, adminService(context, options.security?.adminTokens));
  // The Open Inference Protocol (KServe v2 / Triton) beside modelhub.v1: the same service, scheduler and limits.
  addOipService(server, context);

  const health = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE_NAME]: 'NOT_SERVING' });
  health.addToServer(server);

  createReflectionService(loadDescriptorSet()).addToServer(server);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${formatHost(options.host)}:${options.port}`,
      serverCredentials(options.security?.tls),
      (error, boundPort) => (error ? reject(error) : resolve(boundPort)),
    );
  });
  const problem = windowProblem ?? widenConnectionWindows(server, windowBytes);
  if (problem) context.logger.warn(`HTTP/2 receive window left at 64 KiB: ${problem}`);
  return {
    server,
    port,
    setHealth: (status) => {
      health.setStatus('', status);
      health.setStatus(SERVICE_NAME, status);
    },
  };
}

/** TLS when configured; with a client CA, clients must present a certificate it signed (the handshake fails otherwise). */
export function serverCredentials(tls: TlsMaterial | undefined): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(
    tls.clientCa ?? null,
    [{ private_key: tls.key, cert_chain: tls.cert }],
    tls.clientCa !== undefined,
  );
}

function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
