/**
 * ServiceError ↔ HTTP. Every error answer has ModelHub's shape, {"error": "..."}; caller mistakes are 400 as in
 * ModelHub, and the codes ModelHub never had (overload, start-up, auth) get the status a client or proxy expects.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { Code, ServiceError } from '../../errors.js';
import type { HttpContext } from './context.js';

/** Seconds a client should wait before retrying an overloaded or starting server. */
const RETRY_AFTER_SECONDS = 1;

export function httpStatusOf(code: Code): number {
  switch (code) {
    case Code.INVALID_ARGUMENT:
    case Code.FAILED_PRECONDITION:
      return 400;
    case Code.UNAUTHENTICATED:
      return 401;
    case Code.PERMISSION_DENIED:
      return 403;
    case Code.NOT_FOUND:
      return 404;
    case Code.ABORTED:
      return 409;
    case Code.RESOURCE_EXHAUSTED:
      return 429;
    // nginx's "client closed request": nobody reads it, but logs and metrics see the cause.
    case Code.CANCELLED:
      return 499;
    case Code.UNAVAILABLE:
      return 503;
    case Code.DEADLINE_EXCEEDED:
      return 504;
    default:
      return 500;
  }
}

export function toServiceError(error: unknown): ServiceError {
  if (error instanceof ServiceError) return error;
  const fastifyError = error as Partial<FastifyError> | undefined;
  const status = fastifyError?.statusCode;
  if (fastifyError?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return new ServiceError(Code.INVALID_ARGUMENT,
      'unsupported Content-Type: POST /api/predict takes multipart/form-data with the image in the field "file"', { cause: error });
  }
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // Fastify's and @fastify/multipart's own refusals (body too large, malformed multipart, bad content type).
    const code = status === 413 ? Code.RESOURCE_EXHAUSTED : status === 404 ? Code.NOT_FOUND : Code.INVALID_ARGUMENT;
    return new ServiceError(code, fastifyError?.message ?? 'bad request', { cause: error });
  }
  return new ServiceError(Code.INTERNAL, 'internal error; the server logged the details', { cause: error });
}

export function sendError(reply: FastifyReply, error: ServiceError, status = httpStatusOf(error.code)): FastifyReply {
  if (status === 429 || status === 503) reply.header('retry-after', String(RETRY_AFTER_SECONDS));
  if (status === 401) reply.header('www-authenticate', 'Bearer');
  return reply.code(status).type('application/json; charset=utf-8').send({ error: error.message });
}

/** Fastify's error handler: anything a route throws becomes {"error"} with its status; internal faults are logged. */
export function errorHandler(context: HttpContext) {
  return (error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const serviceError = toServiceError(error);
    // A request body over the limit is 413 (Payload Too Large), not the scheduler's 429.
    const isTooLarge = (error as Partial<FastifyError>)?.statusCode === 413;
    if (serviceError.code === Code.INTERNAL) {
      context.logger.error({ err: error, method: request.method, url: request.url }, 'HTTP request failed');
    }
    return sendError(reply, serviceError, isTooLarge ? 413 : undefined);
  };
}
