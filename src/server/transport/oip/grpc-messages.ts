/**
 * inference.ModelInferRequest / ModelInferResponse ↔ the transport-free tensors of tensors.ts, for ModelInfer and
 * ModelStreamInfer.
 */
import {
  InferTensorContents,
  type InferParameter,
  type ModelInferRequest,
  type ModelInferResponse,
  type ModelInferResponse_InferOutputTensor,
} from '../../../gen/inference/grpc_service.js';
import { invalidArgument } from '../../errors.js';
import type { ModelService } from '../../core/model-service.js';
import { MODEL_NAME, MODEL_VERSION, maxRequestBatch, resolveModel } from './model.js';
import {
  decodeInferRequest,
  float32LittleEndian,
  joinBytesElements,
  type DecodedRequest,
  type InferRequest,
  type OutputTensor,
  type TensorContents,
} from './tensors.js';

/**
 * A request protobuf could not decode (corrupt bytes, or an int64 such as a shape dimension past 2^53, which the
 * generated code refuses). grpc-js would answer a decoding failure INTERNAL; the handler answers INVALID_ARGUMENT.
 */
export class UndecodableRequest {
  constructor(readonly reason: string) {}
}

export type IncomingInferRequest = ModelInferRequest | UndecodableRequest;

/** A deserializer that hands undecodable bytes to the handler instead of failing in grpc-js. */
export function tolerant(decode: (bytes: Buffer) => ModelInferRequest): (bytes: Buffer) => IncomingInferRequest {
  return (bytes) => {
    try {
      return decode(bytes);
    } catch (error) {
      return new UndecodableRequest(error instanceof Error ? error.message : String(error));
    }
  };
}

export function asDecodable(request: IncomingInferRequest): ModelInferRequest {
  if (request instanceof UndecodableRequest) {
    throw invalidArgument(
      `the ModelInferRequest message could not be decoded (${request.reason}); ` +
        'int64 fields such as shape must lie within ±2^53',
    );
  }
  return request;
}

/** Model, version and tensors checked; the elements ready to run. Shared by ModelInfer and ModelStreamInfer. */
export function decodeModelInferRequest(service: ModelService, request: ModelInferRequest): DecodedRequest {
  resolveModel(request.modelName, request.modelVersion);
  return decodeInferRequest(toInferRequest(request), maxRequestBatch(service));
}

/** Raw inputs get raw outputs, as Triton answers. */
export function usesRawContents(request: ModelInferRequest): boolean {
  return request.rawInputContents.length > 0;
}

/** The wire message → the transport-free request of tensors.ts. */
export function toInferRequest(request: ModelInferRequest): InferRequest {
  const raw = request.rawInputContents;
  if (raw.length > 0 && raw.length !== request.inputs.length) {
    throw invalidArgument(
      `raw_input_contents has ${raw.length} entries for ${request.inputs.length} input(s): send one per input, in the order of inputs`,
    );
  }
  return {
    inputs: request.inputs.map((input, i) => {
      const typed = typedContents(input.contents);
      if (raw.length > 0 && typed.kind !== 'none') {
        throw invalidArgument(
          `input ${JSON.stringify(input.name)} has contents as well as raw_input_contents; send one or the other`,
        );
      }
      return {
        name: input.name,
        datatype: input.datatype,
        shape: input.shape,
        contents: raw.length > 0 ? { kind: 'raw', bytes: raw[i]! } : typed,
      };
    }),
    outputs: request.outputs.map(({ name, parameters }) => ({ name, parameters: parameterValues(parameters) })),
  };
}

/** InferTensorContents' fields, with their names on the wire for messages. */
const CONTENT_FIELDS = [
  ['boolContents', 'bool_contents'],
  ['intContents', 'int_contents'],
  ['int64Contents', 'int64_contents'],
  ['uintContents', 'uint_contents'],
  ['uint64Contents', 'uint64_contents'],
  ['fp32Contents', 'fp32_contents'],
  ['fp64Contents', 'fp64_contents'],
  ['bytesContents', 'bytes_contents'],
] as const satisfies readonly (readonly [keyof InferTensorContents, string])[];

function typedContents(contents: InferTensorContents | undefined): TensorContents {
  const populated = CONTENT_FIELDS.filter(([field]) => contents !== undefined && contents[field].length > 0);
  if (!contents || populated.length === 0) return { kind: 'none' };
  if (populated.length > 1)
    return { kind: 'other', found: `several contents fields (${populated.map(([, wire]) => wire).join(', ')})` };
  const [[field, wire]] = populated as [(typeof CONTENT_FIELDS)[number]];
  if (field === 'bytesContents') return { kind: 'bytes', elements: contents.bytesContents };
  if (field === 'uintContents') return { kind: 'numbers', values: contents.uintContents };
  return { kind: 'other', found: `contents.${wire}` };
}

function parameterValues(parameters: { [key: string]: InferParameter }): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(parameters).map(([key, parameter]) => [key, parameter.parameterChoice?.value]),
  );
}

/** Output tensors → the wire message: typed contents, or raw_output_contents when the request was raw. */
export function toInferResponse(id: string, outputs: readonly OutputTensor[], raw: boolean): ModelInferResponse {
  return {
    modelName: MODEL_NAME,
    modelVersion: MODEL_VERSION,
    id,
    parameters: {},
    outputs: outputs.map(
      (tensor): ModelInferResponse_InferOutputTensor => ({
        name: tensor.name,
        datatype: tensor.datatype,
        shape: [...tensor.shape],
        parameters: {},
        contents: raw ? undefined : typedOutput(tensor),
      }),
    ),
    rawOutputContents: raw ? outputs.map(rawOutput) : [],
  };
}

function typedOutput(tensor: OutputTensor): InferTensorContents {
  return tensor.datatype === 'FP32'
    ? InferTensorContents.fromPartial({ fp32Contents: Array.from(tensor.values) })
    : InferTensorContents.fromPartial({
        bytesContents: tensor.elements.map((element) => Buffer.from(element, 'utf8')),
      });
}

function rawOutput(tensor: OutputTensor): Buffer {
  return tensor.datatype === 'FP32'
    ? float32LittleEndian(tensor.values)
    : joinBytesElements(tensor.elements.map((element) => Buffer.from(element, 'utf8')));
}

/** An empty answer carrying the request's identity (ModelStreamInfer's failed requests). */
export function emptyInferResponse(id: string): ModelInferResponse {
  return toInferResponse(id, [], false);
}
