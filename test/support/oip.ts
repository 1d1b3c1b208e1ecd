/**
 * An Open Inference Protocol client that knows only the protocol: built at runtime from proto/inference/
 * grpc_service.proto by @grpc/proto-loader (snake_case fields, int64 as strings), as a KServe or Triton client in
 * another language would be. Plus the protocol's tensor layouts, written here from the specification.
 */
import { Metadata, type Client, type ServiceError } from '@grpc/grpc-js';
import { dynamicClient, PROTO_DIR } from './grpc.js';

export type OipClient = Client & Record<string, any>;

export function oipClient(address: string): OipClient {
  return dynamicClient('inference/grpc_service.proto', [PROTO_DIR], 'inference.GRPCInferenceService', address);
}

/** A ModelHub client from the same kind of runtime-built stubs, to compare answers with Predict. */
export function modelhubClient(address: string): Client & Record<string, any> {
  return dynamicClient('modelhub/v1/model_service.proto', [PROTO_DIR], 'modelhub.v1.ModelService', address);
}

/** A unary call as a promise; `metadata` travels as request headers (authorization, grpc-timeout). */
export function call<Res = any>(
  client: Client & Record<string, any>,
  method: string,
  request: object,
  metadata = new Metadata(),
): Promise<Res> {
  return new Promise((resolve, reject) => {
    client[method]!(request, metadata, (error: ServiceError | null, response: Res) =>
      error ? reject(error) : resolve(response),
    );
  });
}

/** The error a call fails with; throws if it succeeds. */
export async function failure(promise: Promise<unknown>): Promise<ServiceError> {
  const error = await promise.then(
    () => undefined,
    (e: ServiceError) => e,
  );
  if (!error) throw new Error('expected the call to fail');
  return error;
}

export interface StreamOutcome {
  readonly responses: any[];
  readonly status: { code: number; details: string };
}

/** ModelStreamInfer: writes every request, half-closes, and collects the answers and the final status. */
export function streamInfer(
  client: OipClient,
  requests: readonly object[],
  metadata = new Metadata(),
): Promise<StreamOutcome> {
  return new Promise((resolve) => {
    const stream = client.ModelStreamInfer(metadata);
    const responses: any[] = [];
    stream.on('data', (response: any) => responses.push(response));
    stream.on('error', (error: ServiceError) =>
      resolve({ responses, status: { code: error.code, details: error.details } }),
    );
    stream.on('status', (status: { code: number; details: string }) => {
      if (status.code === 0) resolve({ responses, status: { code: status.code, details: status.details } });
    });
    for (const request of requests) stream.write(request);
    stream.end();
  });
}

/** A BYTES tensor in raw form: each element as a 4-byte little-endian length followed by its bytes. */
export function rawBytes(elements: readonly Uint8Array[]): Buffer {
  return Buffer.concat(
    elements.flatMap((element) => {
      const length = Buffer.alloc(4);
      length.writeUInt32LE(element.length);
      return [length, Buffer.from(element)];
    }),
  );
}

export function splitRawBytes(raw: Buffer): Buffer[] {
  const elements: Buffer[] = [];
  for (let offset = 0; offset < raw.length; ) {
    const length = raw.readUInt32LE(offset);
    elements.push(raw.subarray(offset + 4, offset + 4 + length));
    offset += 4 + length;
  }
  return elements;
}

/** An FP32 tensor in raw form (little-endian). */
export function float32s(raw: Buffer): number[] {
  return Array.from({ length: raw.length / 4 }, (_, i) => raw.readFloatLE(i * 4));
}

/** The classification extension's "<score>:<index>:<label>" (labels may hold colons; the first two split). */
export function parseClassification(entry: string): { score: number; index: number; label: string } {
  const [score, index, ...label] = entry.split(':');
  return { score: Number(score), index: Number(index), label: label.join(':') };
}
