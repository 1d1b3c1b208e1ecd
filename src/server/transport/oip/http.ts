/**
 * The Open Inference Protocol's REST routes (/v2/...) on --http-port, beside ModelHub's /api: the same ModelService,
 * scheduler, limits, tokens, error shape ({"error": "..."}) and status mapping as the rest of the HTTP API. Tensors
 * travel as JSON: BYTES elements as base64 strings, numbers as (flat or nested) arrays; the classification output
 * comes back as plain strings.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requireService, timingFields, type TransportContext } from '../../core/transport-context.js';
import { invalidArgument } from '../../errors.js';
import { errorHandler } from '../http/errors.js';
import type { HttpCall, HttpCalls } from '../http/handle.js';
import { isReady, LIVE_ROUTE, MODEL_READY_ROUTES, READY_ROUTE } from './health.js';
import { runInference } from './infer.js';
import { MODEL_NAME, MODEL_VERSION, maxRequestBatch, modelMetadata, resolveModel, serverMetadata } from './model.js';
import {
  decodeInferRequest,
  encodeOutputs,
  type InferRequest,
  type OutputTensor,
  type TensorContents,
} from './tensors.js';

interface ModelParams {
  model: string;
  version?: string;
}

interface JsonInferRequest {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: { name: string; shape: number[]; datatype: string; parameters?: Record<string, unknown>; data: unknown[] }[];
  outputs?: { name: string; parameters?: Record<string, unknown> }[];
}

interface JsonInferResponse {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: { name: string; datatype: string; shape: number[]; data: number[] | string[] }[];
}

/** The request's structure; the tensors themselves are checked by tensors.ts, as for gRPC. */
const INFER_BODY_SCHEMA = {
  type: 'object',
  required: ['inputs'],
  properties: {
    id: { type: 'string' },
    parameters: { type: 'object' },
    inputs: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'shape', 'datatype', 'data'],
        properties: {
          name: { type: 'string' },
          shape: { type: 'array', items: { type: 'integer', minimum: 0 } },
          datatype: { type: 'string' },
          parameters: { type: 'object' },
          data: { type: 'array' },
        },
      },
    },
    outputs: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name'],
        properties: { name: { type: 'string' }, parameters: { type: 'object' } },
      },
    },
  },
} as const;

const INFER_ROUTES = ['/v2/models/:model/infer', '/v2/models/:model/versions/:version/infer'];
const MODEL_ROUTES = ['/v2/models/:model', '/v2/models/:model/versions/:version'];
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

export function oipRoutes(app: FastifyInstance, context: TransportContext, calls: HttpCalls): void {
  app.get('/v2', async () => serverMetadata(requireService(context)));

  app.get(LIVE_ROUTE, async () => ({ live: true }));

  // Probes read the status: 200 ready, 503 not (loading or draining).
  app.get(READY_ROUTE, async (_request, reply) => {
    const ready = isReady(context);
    return reply.code(ready ? 200 : 503).send({ ready });
  });

  for (const route of MODEL_READY_ROUTES) {
    app.get<{ Params: ModelParams }>(route, async (request, reply) => {
      resolveModel(request.params.model, request.params.version ?? '');
      const ready = isReady(context);
      return reply.code(ready ? 200 : 503).send({ name: MODEL_NAME, ready });
    });
  }

  for (const route of MODEL_ROUTES) {
    app.get<{ Params: ModelParams }>(route, async (request) => {
      resolveModel(request.params.model, request.params.version ?? '');
      return modelMetadata(requireService(context));
    });
  }

  for (const route of INFER_ROUTES) {
    app.post<{ Params: ModelParams; Body: JsonInferRequest }>(
      route,
      {
        schema: { body: INFER_BODY_SCHEMA },
        // The shared handler's message for a wrong content type is about ModelHub's multipart upload.
        errorHandler: errorHandler(
          context,
          (request) =>
            `POST ${request.url.split('?')[0]} takes a JSON inference request (content-type: application/json)`,
        ),
      },
      calls('rest:v2_infer', (request, call) => infer(context, request, call)),
    );
  }
}

async function infer(
  context: TransportContext,
  request: FastifyRequest<{ Params: ModelParams; Body: JsonInferRequest }>,
  call: HttpCall,
): Promise<JsonInferResponse> {
  resolveModel(request.params.model, request.params.version ?? '');
  const service = requireService(context);
  service.assertServing();
  const decoded = decodeInferRequest(fromJson(request.body), maxRequestBatch(service));
  const result = await runInference(service, decoded, call);
  Object.assign(call.log, { batch: decoded.images.length, ...timingFields(result.timings) });
  return toJson(request.body.id, encodeOutputs(decoded.outputs, result.rows, service.metadata().labels));
}

function fromJson(body: JsonInferRequest): InferRequest {
  return {
    inputs: body.inputs.map((input) => {
      if (input.parameters?.binary_data_size !== undefined) {
        throw invalidArgument(
          `input ${JSON.stringify(input.name)}: the binary tensor data extension is not supported; ` +
            'send "data" as JSON (BYTES elements as base64 strings)',
        );
      }
      return {
        name: input.name,
        datatype: input.datatype,
        shape: input.shape,
        contents: jsonContents(input.name, input.data),
      };
    }),
    outputs: (body.outputs ?? []).map(({ name, parameters }) => ({ name, parameters: parameters ?? {} })),
  };
}

function jsonContents(name: string, data: readonly unknown[]): TensorContents {
  const values = data.flat(Infinity);
  if (values.length === 0) return { kind: 'none' };
  if (values.every((value) => typeof value === 'number')) return { kind: 'numbers', values: values as number[] };
  if (values.every((value) => typeof value === 'string')) {
    return {
      kind: 'bytes',
      elements: (values as string[]).map((text, index) => {
        if (!BASE64.test(text))
          throw invalidArgument(`input ${JSON.stringify(name)} element ${index} is not a base64 string`);
        return Buffer.from(text, 'base64');
      }),
    };
  }
  return { kind: 'other', found: 'data that is neither all numbers nor all strings' };
}

function toJson(id: string | undefined, outputs: readonly OutputTensor[]): JsonInferResponse {
  return {
    model_name: MODEL_NAME,
    model_version: MODEL_VERSION,
    ...(id === undefined ? {} : { id }),
    outputs: outputs.map((tensor) => ({
      name: tensor.name,
      datatype: tensor.datatype,
      shape: [...tensor.shape],
      data: tensor.datatype === 'FP32' ? Array.from(tensor.values) : [...tensor.elements],
    })),
  };
}
