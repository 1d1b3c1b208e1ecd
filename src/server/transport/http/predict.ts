/**
 * ModelHub's inference routes: POST /api/predict (multipart field `file`), GET /api/predict?fileurl=, and
 * GET /api/predict_sample?filename=. All go through ModelService.predict, the one inference path, with the same
 * scheduler and limits as gRPC; the answer lists all labels in class order, as ModelHub's does.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Code, invalidArgument } from '../../errors.js';
import type { ModelService } from '../../core/model-service.js';
import { disconnectSignal, recordCall, requireService, setInstanceHeader, type HttpContext } from './context.js';
import { toServiceError } from './errors.js';
import { fetchAllowed, type FetchLimits } from './fetch-url.js';
import { toModelHubPrediction, type ModelHubPrediction } from './modelhub-response.js';
import { readSample, sampleNameOf } from './samples.js';

/** The multipart field ModelHub reads the upload from. */
export const FILE_FIELD = 'file';

export interface PredictRouteOptions {
  readonly fetch: FetchLimits;
}

type ImageSource = (service: ModelService, signal: AbortSignal) => Promise<Uint8Array>;

export function predictRoutes(app: FastifyInstance, context: HttpContext, options: PredictRouteOptions): void {
  app.post('/api/predict', (request, reply) =>
    predictFrom(context, request, reply, 'rest:predict', () => readUpload(request)));

  app.get<{ Querystring: { fileurl?: string } }>('/api/predict', (request, reply) =>
    predictFrom(context, request, reply, 'rest:predict_url', (_service, signal) => {
      const { fileurl } = request.query;
      if (typeof fileurl !== 'string' || fileurl === '') {
        throw invalidArgument('GET /api/predict needs ?fileurl=<URL of a PNG or JPEG>; or POST the image as multipart field "file"');
      }
      return fetchAllowed(fileurl, options.fetch, signal);
    }));

  app.get<{ Querystring: { filename?: string } }>('/api/predict_sample', (request, reply) =>
    predictFrom(context, request, reply, 'rest:predict_sample', (service) =>
      readSample(service.runtime.contrib, sampleNameOf(request.query))));
}

async function predictFrom(
  context: HttpContext,
  request: FastifyRequest,
  reply: FastifyReply,
  method: string,
  source: ImageSource,
): Promise<ModelHubPrediction> {
  const startedAt = performance.now();
  const requestId = request.id;
  setInstanceHeader(context, reply);
  try {
    const service = requireService(context);
    // Refuse before reading an upload or fetching a URL for a server that will not run it.
    service.assertServing();
    const signal = disconnectSignal(reply);
    const bytes = await source(service, signal);
    const prediction = await service.predict(
      { id: requestId, image: { kind: 'encoded', bytes }, topK: service.metadata().labels.length, order: 'class' },
      { signal, deadline: Infinity },
    );
    const { prepareMs, queueMs, inferenceMs } = prediction.timings;
    recordCall(context, method, Code.OK, startedAt, {
      requestId, bytes: bytes.length, prepareMs: tenths(prepareMs), queueMs: tenths(queueMs), inferenceMs: tenths(inferenceMs),
    });
    return toModelHubPrediction(prediction);
  } catch (error) {
    const serviceError = toServiceError(error);
    recordCall(context, method, serviceError.code, startedAt, { requestId, error: serviceError.message });
    throw error;
  }
}

function tenths(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** The bytes of the multipart field `file`; other parts are drained and ignored. */
async function readUpload(request: FastifyRequest): Promise<Uint8Array> {
  if (!request.isMultipart()) {
    throw invalidArgument(`POST /api/predict takes multipart/form-data with the image in the field "${FILE_FIELD}"`);
  }
  let bytes: Buffer | undefined;
  try {
    for await (const part of request.parts()) {
      if (part.type !== 'file') continue;
      if (part.fieldname === FILE_FIELD && bytes === undefined) bytes = await part.toBuffer();
      else part.file.resume();
    }
  } catch (error) {
    // The multipart plugin's own refusals (too large, too many parts) carry a status; the parser's do not.
    if (typeof (error as { statusCode?: unknown }).statusCode === 'number') throw error;
    throw invalidArgument(`malformed multipart/form-data body: ${(error as Error).message}`);
  }
  if (!bytes) throw invalidArgument(`no file in the multipart field "${FILE_FIELD}"`);
  return bytes;
}
