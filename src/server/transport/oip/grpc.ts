/**
 * inference.GRPCInferenceService (the Open Inference Protocol over gRPC) on the server's gRPC port, beside
 * modelhub.v1: the same ModelService, scheduler, limits, call context, status mapping, logs and metrics as Predict.
 * Here only the wire messages are translated; the tensors are checked and built in tensors.ts for both transports.
 */
import type { handleUnaryCall, Server, UntypedServiceImplementation } from '@grpc/grpc-js';
import {
  GRPCInferenceServiceService,
  type ModelInferResponse, type ModelMetadataRequest, type ModelMetadataResponse, type ModelReadyRequest,
  type ModelReadyResponse, type ServerLiveResponse, type ServerMetadataResponse, type ServerReadyResponse,
} from '../../../gen/inference/grpc_service.js';
import { Code } from '../../errors.js';
import { callContext } from '../grpc/call-context.js';
import { instanceHeader, recordCall, requireService, round, type HandlerContext } from '../grpc/handler-context.js';
import { toGrpcError, toServiceError } from '../grpc/status.js';
import {
  asDecodable, decodeModelInferRequest, tolerant, toInferResponse, usesRawContents, UndecodableRequest,
  type IncomingInferRequest,
} from './grpc-messages.js';
import { modelStreamInferHandler } from './grpc-stream.js';
import { isReady } from './health.js';
import { runInference } from './infer.js';
import { modelMetadata, resolveModel, serverMetadata } from './model.js';
import { encodeOutputs } from './tensors.js';

export function addOipService(server: Server, context: HandlerContext): void {
  const definition = GRPCInferenceServiceService;
  server.addService({
    ...definition,
    modelInfer: { ...definition.modelInfer, requestDeserialize: tolerant(definition.modelInfer.requestDeserialize) },
    modelStreamInfer: { ...definition.modelStreamInfer, requestDeserialize: tolerant(definition.modelStreamInfer.requestDeserialize) },
  }, {
    // Health calls: public and unlogged, like grpc.health.v1 (health.ts).
    serverLive: unaryCall<unknown, ServerLiveResponse>(context, undefined, () => ({ live: true })),
    serverReady: unaryCall<unknown, ServerReadyResponse>(context, undefined, () => ({ ready: isReady(context) })),
    modelReady: unaryCall<ModelReadyRequest, ModelReadyResponse>(context, undefined, ({ name, version }) => {
      resolveModel(name, version);
      return { ready: isReady(context) };
    }),
    serverMetadata: unaryCall<unknown, ServerMetadataResponse>(context, 'ServerMetadata', () => {
      const metadata = serverMetadata(requireService(context));
      return { ...metadata, extensions: [...metadata.extensions] };
    }),
    modelMetadata: unaryCall<ModelMetadataRequest, ModelMetadataResponse>(context, 'ModelMetadata', ({ name, version }) => {
      resolveModel(name, version);
      const metadata = modelMetadata(requireService(context));
      const tensors = (list: typeof metadata.inputs) => list.map((t) => ({ ...t, shape: [...t.shape] }));
      return { ...metadata, versions: [...metadata.versions], inputs: tensors(metadata.inputs), outputs: tensors(metadata.outputs) };
    }),
    modelInfer: modelInferHandler(context),
    modelStreamInfer: modelStreamInferHandler(context),
  } satisfies UntypedServiceImplementation);
}

/** A unary call answered at once; `method` names it in the call logs and metrics (undefined: not recorded). */
function unaryCall<Req, Res>(context: HandlerContext, method: string | undefined, answer: (request: Req) => Res): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const startedAt = performance.now();
    try {
      callback(null, answer(call.request));
      if (method) recordCall(context, method, Code.OK, startedAt);
    } catch (error) {
      const serviceError = toServiceError(error);
      callback(toGrpcError(serviceError));
      if (method) recordCall(context, method, serviceError.code, startedAt, { error: serviceError.message });
    }
  };
}

function modelInferHandler(context: HandlerContext): handleUnaryCall<IncomingInferRequest, ModelInferResponse> {
  return (call, callback) => {
    const startedAt = performance.now();
    const request = call.request;
    const requestId = request instanceof UndecodableRequest ? '' : request.id;
    const run = async () => {
      const message = asDecodable(request);
      const service = requireService(context);
      const decoded = decodeModelInferRequest(service, message);
      const result = await runInference(service, decoded, callContext(call));
      const outputs = encodeOutputs(decoded.outputs, result.rows, service.metadata().labels);
      return { response: toInferResponse(message.id, outputs, usesRawContents(message)), batch: decoded.images.length, result };
    };
    run().then(
      ({ response, batch, result: { timings } }) => {
        // With the answer, not before the work: an UNAVAILABLE must go out trailers-only for grpc-js clients to retry.
        call.sendMetadata(instanceHeader(context));
        callback(null, response);
        recordCall(context, 'ModelInfer', Code.OK, startedAt, {
          requestId, batch, prepareMs: round(timings.prepareMs), queueMs: round(timings.queueMs), inferenceMs: round(timings.inferenceMs),
        });
      },
      (error: unknown) => {
        const serviceError = toServiceError(error);
        callback(toGrpcError(serviceError, instanceHeader(context)));
        recordCall(context, 'ModelInfer', serviceError.code, startedAt, {
          requestId, error: serviceError.message, ...(serviceError.code === Code.INTERNAL ? { cause: String(error) } : {}),
        });
      },
    );
  };
}

