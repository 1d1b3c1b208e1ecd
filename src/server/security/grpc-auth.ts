/**
 * Bearer-token authentication for gRPC as a server interceptor: it sees the request headers before grpc-js hands the
 * call to a handler, so a refused call is answered UNAUTHENTICATED without reading its message, decoding an image or
 * touching the engine. Health is always open (orchestrators probe it without credentials), and so are the Open
 * Inference Protocol's ServerLive, ServerReady and ModelReady; reflection is open only with --public-reflection.
 * AdminService calls pass here untouched: their handler checks them against the admin tokens instead.
 */
import {
  Metadata,
  ServerInterceptingCall,
  status,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
} from '@grpc/grpc-js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { PUBLIC_GRPC_METHODS as OIP_HEALTH_METHODS } from '../transport/oip/health.js';
import { INVALID_TOKEN_MESSAGE, MISSING_TOKEN_MESSAGE, type TokenVerifier } from './tokens.js';

export const HEALTH_SERVICE_PREFIX = '/grpc.health.v1.Health/';
/** Operator calls: checked against the admin tokens by their handler (transport/grpc/admin.ts), not the callers'. */
export const ADMIN_SERVICE_PREFIX = '/modelhub.v1.AdminService/';
const REFLECTION_SERVICE_PREFIXES = [
  '/grpc.reflection.v1.ServerReflection/',
  '/grpc.reflection.v1alpha.ServerReflection/',
];

export interface GrpcAuthOptions {
  readonly verifier: TokenVerifier;
  /** Reflection answers without a token. */
  readonly publicReflection: boolean;
  readonly logger: Logger;
  /** Refusals are counted as finished calls with code UNAUTHENTICATED. */
  readonly metrics?: Metrics;
}

/** Whether a method path needs no token. */
export function isPublicMethod(path: string, publicReflection: boolean): boolean {
  if (path.startsWith(HEALTH_SERVICE_PREFIX) || OIP_HEALTH_METHODS.has(path)) return true;
  return publicReflection && REFLECTION_SERVICE_PREFIXES.some((prefix) => path.startsWith(prefix));
}

export function bearerAuthInterceptor(options: GrpcAuthOptions): ServerInterceptor {
  const { verifier, publicReflection, logger, metrics } = options;
  return (method, call) => {
    if (isPublicMethod(method.path, publicReflection) || method.path.startsWith(ADMIN_SERVICE_PREFIX))
      return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, passOn) => {
            const values = metadata.get('authorization');
            // Several values are ambiguous: none of them counts.
            const outcome = values.length > 1 ? 'invalid' : verifier.check(headerText(values[0]));
            if (outcome === 'ok') {
              // Handlers never see the credential, so nothing downstream can log it.
              metadata.remove('authorization');
              passOn(metadata);
              return;
            }
            refuse(call, method.path, outcome === 'missing' ? MISSING_TOKEN_MESSAGE : INVALID_TOKEN_MESSAGE);
          },
        }),
    });
  };

  function refuse(call: ServerInterceptingCallInterface, path: string, message: string): void {
    const methodName = path.slice(path.lastIndexOf('/') + 1);
    // The peer and the reason, never the header's value.
    logger.warn(
      { method: methodName, path, peer: call.getPeer(), code: 'UNAUTHENTICATED', reason: message },
      'call refused',
    );
    metrics?.calls.inc({ method: methodName, code: 'UNAUTHENTICATED' });
    call.sendStatus({ code: status.UNAUTHENTICATED, details: message, metadata: new Metadata() });
  }
}

function headerText(value: string | Buffer | undefined): string | undefined {
  return value === undefined || typeof value === 'string' ? value : value.toString('utf8');
}
