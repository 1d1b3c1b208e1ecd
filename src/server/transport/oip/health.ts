/**
 * The protocol's health calls: live, ready, model ready. Like grpc.health.v1 they are public when tokens are on
 * (KServe and Kubernetes probe them without credentials), and they are not logged per call (probes come every few
 * seconds).
 */
import type { TransportContext } from '../../core/transport-context.js';

const GRPC_SERVICE = '/inference.GRPCInferenceService/';

/** gRPC method paths that need no token. */
export const PUBLIC_GRPC_METHODS: ReadonlySet<string> = new Set(
  ['ServerLive', 'ServerReady', 'ModelReady'].map((method) => `${GRPC_SERVICE}${method}`),
);

export const LIVE_ROUTE = '/v2/health/live';
export const READY_ROUTE = '/v2/health/ready';
export const MODEL_READY_ROUTES = ['/v2/models/:model/ready', '/v2/models/:model/versions/:version/ready'] as const;

/** REST route patterns that need no token (GET). */
export const PUBLIC_REST_ROUTES: ReadonlySet<string> = new Set([LIVE_ROUTE, READY_ROUTE, ...MODEL_READY_ROUTES]);

/** Ready: the model is loaded and the server is not draining. */
export function isReady(context: TransportContext): boolean {
  return context.service()?.ready === true;
}
