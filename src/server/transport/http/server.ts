/**
 * The HTTP server: ModelHub's REST API (/api/...) and the web page (/), on its own port beside gRPC. Inference goes
 * through the same ModelService as gRPC, so the scheduler's queue, batching and limits apply to both.
 */
import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { TransportContext } from '../../core/transport-context.js';
import { Code, ServiceError } from '../../errors.js';
import type { SecuritySettings } from '../../security/security.js';
import { oipRoutes } from '../oip/http.js';
import { bearerAuth } from './auth.js';
import { errorHandler, sendError } from './errors.js';
import { httpCalls } from './handle.js';
import { modelFilesRoutes } from './model-files.js';
import { modelInfoRoutes } from './model-info.js';
import { pageRoutes } from './page.js';
import { predictRoutes } from './predict.js';
import { sampleRoutes } from './samples.js';

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  /** Largest upload, and largest file fetched for ?fileurl=. */
  readonly maxMessageBytes: number;
  /** Hosts GET /api/predict?fileurl= may fetch from; empty: fileurl is refused. */
  readonly fetchAllowHosts: readonly string[];
  /** How long fetching a fileurl may take. */
  readonly fetchTimeoutMs?: number;
  /** Deadline of an inference request, ms (0: none); a request may ask for less (handle.ts). */
  readonly requestTimeoutMs?: number;
  /** TLS (HTTPS) and bearer tokens, the same as gRPC's. */
  readonly security?: Pick<SecuritySettings, 'tls' | 'tokens'>;
}

export interface HttpServer {
  readonly app: FastifyInstance;
  readonly port: number;
  /** Stops accepting connections; resolves once in-flight requests have been answered. */
  close(): Promise<void>;
  /** Cuts the connections still open (after the grace period). */
  forceClose(): void;
}

const DEFAULT_FETCH_TIMEOUT_MS = 10_000;
const MAX_REDIRECTS = 3;

export function buildHttpApp(context: TransportContext, options: HttpServerOptions): FastifyInstance {
  const tls = options.security?.tls;
  const app = Fastify({
    logger: false,
    bodyLimit: options.maxMessageBytes,
    genReqId: () => randomUUID(),
    requestIdHeader: 'x-request-id',
    ...(tls
      ? {
          https: {
            cert: tls.cert,
            key: tls.key,
            ...(tls.clientCa ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
          },
        }
      : {}),
  }) as unknown as FastifyInstance;

  app.register(multipart, {
    limits: { fileSize: options.maxMessageBytes, files: 4, fields: 16, fieldSize: 64 * 1024, parts: 32 },
  });
  app.setErrorHandler(errorHandler(context));
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new ServiceError(Code.NOT_FOUND, `no route ${request.method} ${request.url.split('?')[0]}`)),
  );
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-request-id', request.id);
    // Which replica answered, and the weights serving, as on gRPC responses.
    reply.header('x-instance', context.instance);
    const weights = context.service()?.modelRef().weightsSha256;
    if (weights) reply.header('x-weights-sha256', weights);
  });
  if (options.security?.tokens) bearerAuth(app, context, options.security.tokens);

  pageRoutes(app);
  modelInfoRoutes(app, context);
  sampleRoutes(app, context);
  modelFilesRoutes(app, context);
  const calls = httpCalls(context, options.requestTimeoutMs ?? 0);
  oipRoutes(app, context, calls);
  predictRoutes(app, context, calls, {
    allowHosts: options.fetchAllowHosts,
    maxBytes: options.maxMessageBytes,
    timeoutMs: options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS,
    maxRedirects: MAX_REDIRECTS,
  });
  return app;
}

export async function startHttpServer(context: TransportContext, options: HttpServerOptions): Promise<HttpServer> {
  const app = buildHttpApp(context, options);
  await app.listen({ host: options.host, port: options.port });
  let closing: Promise<void> | undefined;
  return {
    app,
    port: (app.server.address() as AddressInfo).port,
    close: () => (closing ??= app.close()),
    forceClose: () => app.server.closeAllConnections(),
  };
}
