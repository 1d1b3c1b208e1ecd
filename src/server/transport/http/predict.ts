/**
 * ModelHub's inference routes: POST /api/predict (multipart field `file`), GET /api/predict?fileurl=, and
 * GET /api/predict_sample?filename=. All go through ModelService.predict, the one inference path, with the same
 * scheduler and limits as gRPC; the answer lists all labels in class order, as ModelHub's does.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ModelService } from '../../core/model-service.js';
import { requireService, timingFields, type TransportContext } from '../../core/transport-context.js';
import { invalidArgument } from '../../errors.js';
import { fetchAllowed, type FetchLimits } from './fetch-url.js';
import type { HttpCall, HttpCalls } from './handle.js';
import { toModelHubPrediction, type ModelHubPrediction } from './modelhub-response.js';
import { readSample, sampleNameOf } from './samples.js';

/** The multipart field ModelHub reads the upload from. */
export const FILE_FIELD = 'file';

type ImageSource = (service: ModelService) => Promise<Uint8Array>;

export function predictRoutes(
  app: FastifyInstance,
  context: TransportContext,
  calls: HttpCalls,
  fetchLimits: FetchLimits,
): void {
  app.post(
    '/api/predict',
    calls('rest:predict', (request, call) => predictFrom(context, request, call, () => readUpload(request))),
  );

  app.get<{ Querystring: { fileurl?: string } }>(
    '/api/predict',
    calls('rest:predict_url', (request, call) =>
      predictFrom(context, request, call, () => {
        const { fileurl } = request.query;
        if (typeof fileurl !== 'string' || fileurl === '') {
          throw invalidArgument(
            'GET /api/predict needs ?fileurl=<URL of a PNG or JPEG>; or POST the image as multipart field "file"',
          );
        }
        return fetchAllowed(fileurl, fetchLimits, call.signal);
      }),
    ),
  );

  app.get<{ Querystring: { filename?: string } }>(
    '/api/predict_sample',
    calls('rest:predict_sample', (request, call) =>
      predictFrom(context, request, call, (service) =>
        readSample(service.runtime.contrib, sampleNameOf(request.query)),
      ),
    ),
  );
}

async function predictFrom(
  context: TransportContext,
  request: FastifyRequest,
  call: HttpCall,
  source: ImageSource,
): Promise<ModelHubPrediction> {
  const service = requireService(context);
  // Refuse before reading an upload or fetching a URL for a server that will not run it.
  service.assertServing();
  const bytes = await source(service);
  call.log.bytes = bytes.length;
  const prediction = await service.predict(
    { id: request.id, image: { kind: 'encoded', bytes }, topK: service.metadata().labels.length, order: 'class' },
    { signal: call.signal, trace: call.trace },
  );
  Object.assign(call.log, timingFields(prediction.timings));
  return toModelHubPrediction(prediction);
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
