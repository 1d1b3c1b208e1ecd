/**
 * inference.GRPCInferenceService (the Open Inference Protocol over gRPC) on the server's gRPC port, beside
 * modelhub.v1: the same ModelService, scheduler, limits, call context, status mapping, logs and metrics as Predict.
 * Here only the wire messages are translated; the tensors are checked and built in tensors.ts for both transports.
 */
import type { Server, UntypedServiceImplementation } from '@grpc/grpc-js';
import {
  GRPCInferenceServiceService,
  type ModelInferResponse,
  type ModelMetadataRequest,
  type ModelMetadataResponse,
  type ModelReadyRequest,
  type ModelReadyResponse,
  type ServerLiveResponse,
  type ServerMetadataResponse,
  type ServerReadyResponse,
} from '../../../gen/inference/grpc_service.js';
import { requireService, timingFields, type TransportContext } from '../../core/transport-context.js';
import { bidi, unary, type UnaryHandler } from '../grpc/handle.js';
import {
  asDecodable,
  decodeModelInferRequest,
  tolerant,
  toInferResponse,
  usesRawContents,
  UndecodableRequest,
  type IncomingInferRequest,
} from './grpc-messages.js';
import { modelStreamInfer } from './grpc-stream.js';
import { isReady } from './health.js';
import { runInference } from './infer.js';
import { modelMetadata, resolveModel, serverMetadata } from './model.js';
import { encodeOutputs } from './tensors.js';

export function addOipService(server: Server, context: TransportContext): void {
  const definition = GRPCInferenceServiceService;
  server.addService(
    {
      ...definition,
      modelInfer: { ...definition.modelInfer, requestDeserialize: tolerant(definition.modelInfer.requestDeserialize) },
      modelStreamInfer: {
        ...definition.modelStreamInfer,
        requestDeserialize: tolerant(definition.modelStreamInfer.requestDeserialize),
      },
    },
    {
      // Health calls: public and unlogged, like grpc.health.v1 (health.ts).
      serverLive: unary<unknown, ServerLiveResponse>(context, undefined, () => ({ live: true })),
      serverReady: unary<unknown, ServerReadyResponse>(context, undefined, () => ({ ready: isReady(context) })),
      modelReady: unary<ModelReadyRequest, ModelReadyResponse>(context, undefined, ({ name, version }) => {
        resolveModel(name, version);
        return { ready: isReady(context) };
      }),
      serverMetadata: unary<unknown, ServerMetadataResponse>(context, 'ServerMetadata', () => {
        const metadata = serverMetadata(requireService(context));
        return { ...metadata, extensions: [...metadata.extensions] };
      }),
      modelMetadata: unary<ModelMetadataRequest, ModelMetadataResponse>(
        context,
        'ModelMetadata',
        ({ name, version }) => {
          resolveModel(name, version);
          const metadata = modelMetadata(requireService(context));
          const tensors = (list: typeof metadata.inputs) => list.map((t) => ({ ...t, shape: [...t.shape] }));
          return {
            ...metadata,
            versions: [...metadata.versions],
            inputs: tensors(metadata.inputs),
            outputs: tensors(metadata.outputs),
          };
        },
      ),
      modelInfer: unary(context, 'ModelInfer', modelInfer(context)),
      modelStreamInfer: bidi(context, 'ModelStreamInfer', modelStreamInfer(context)),
    } satisfies UntypedServiceImplementation,
  );
}

function modelInfer(context: TransportContext): UnaryHandler<IncomingInferRequest, ModelInferResponse> {
  return async (request, call) => {
    call.log.requestId = request instanceof UndecodableRequest ? '' : request.id;
    const message = asDecodable(request);
    const service = requireService(context);
    const decoded = decodeModelInferRequest(service, message);
    const result = await runInference(service, decoded, call);
    Object.assign(call.log, { batch: decoded.images.length, ...timingFields(result.timings) });
    const outputs = encodeOutputs(decoded.outputs, result.rows, service.metadata().labels);
    return toInferResponse(message.id, outputs, usesRawContents(message));
  };
}
