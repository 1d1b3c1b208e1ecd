/**
 * Bearer tokens on the REST API: when tokens are configured, every request needs `authorization: Bearer <token>`,
 * the same tokens as gRPC, except the web page and its static files (they hold no model data; the page asks for a
 * token when the API answers 401) and the Open Inference Protocol's health routes (KServe probes them without one).
 * Public is an explicit list of routes, so a path spelled oddly is never public.
 */
import type { FastifyInstance } from 'fastify';
import { tokenRefusal, type TokenVerifier } from '../../security/tokens.js';
import { PUBLIC_REST_ROUTES as OIP_HEALTH_ROUTES } from '../oip/health.js';
import type { TransportContext } from '../../core/transport-context.js';
import { sendError } from './errors.js';
import { PAGE_PATHS } from './page.js';

export function bearerAuth(app: FastifyInstance, context: TransportContext, verifier: TokenVerifier): void {
  app.addHook('onRequest', async (request, reply) => {
    const route = request.routeOptions.url;
    const isPublic = route !== undefined && (PAGE_PATHS.has(route) || OIP_HEALTH_ROUTES.has(route));
    if (isPublic && (request.method === 'GET' || request.method === 'HEAD')) return;
    const header = request.headers.authorization;
    const refusal = tokenRefusal(verifier.check(header));
    if (!refusal) {
      // Handlers never see the credential, so nothing downstream can log it.
      delete request.headers.authorization;
      return;
    }
    // The route's pattern, not the raw URL, keeps the metric's label set small.
    const method = `rest:${route ?? 'unknown'}`;
    context.logger.warn({ method, peer: request.ip, code: 'UNAUTHENTICATED', reason: refusal.message }, 'call refused');
    context.metrics.calls.inc({ method, code: 'UNAUTHENTICATED' });
    return sendError(reply, refusal);
  });
}
