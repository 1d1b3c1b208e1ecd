/**
 * ServiceError ↔ HTTP. Every error answer has ModelHub's shape, {"error": "..."}; caller mistakes are 400 as in
 * ModelHub, and the codes ModelHub never had (overload, start-up, auth) get the status a client or proxy expects.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { TransportContext } from '../../core/transport-context.js';
import { Code, type ServiceError, invalidArgument, toServiceError } from '../../errors.js';

/** Seconds a client should wait before retrying an overloaded or starting server. */
const RETRY_AFTER_SECONDS = 1;

const HTTP_STATUS: Partial<Record<Code, number>> = {
  [Code.INVALID_ARGUMENT]: 400,
  [Code.FAILED_PRECONDITION]: 400,
  [Code.UNAUTHENTICATED]: 401,
  [Code.PERMISSION_DENIED]: 403,
  [Code.NOT_FOUND]: 404,
  [Code.ABORTED]: 409,
  [Code.RESOURCE_EXHAUSTED]: 429,
  // nginx's "client closed request": nobody reads it, but logs and metrics see the cause.
  [Code.CANCELLED]: 499,
  [Code.UNAVAILABLE]: 503,
  [Code.DEADLINE_EXCEEDED]: 504,
};

export function sendError(
  reply: FastifyReply,
  error: ServiceError,
  status = HTTP_STATUS[error.code] ?? 500,
): FastifyReply {
  if (status === 429 || status === 503) reply.header('retry-after', String(RETRY_AFTER_SECONDS));
  if (status === 401) reply.header('www-authenticate', 'Bearer');
  return reply.code(status).type('application/json; charset=utf-8').send({ error: error.message });
}

const MULTIPART_UPLOAD = () =>
  'unsupported Content-Type: POST /api/predict takes multipart/form-data with the image in the field "file"';

/**
 * Fastify's error handler: anything a route throws becomes {"error"} with its status; internal faults are logged.
 * `mediaType` says what the route takes when the request's content type is not one of them.
 */
export function errorHandler(
  context: TransportContext,
  mediaType: (request: FastifyRequest) => string = MULTIPART_UPLOAD,
) {
  return (error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const serviceError =
      (error as Partial<FastifyError>)?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
        ? invalidArgument(mediaType(request))
        : toServiceError(error);
    // A request body over the limit is 413 (Payload Too Large), not the scheduler's 429.
    const isTooLarge = (error as Partial<FastifyError>)?.statusCode === 413;
    if (serviceError.code === Code.INTERNAL) {
      context.logger.error({ err: error, method: request.method, url: request.url }, 'HTTP request failed');
    }
    return sendError(reply, serviceError, isTooLarge ? 413 : undefined);
  };
}
