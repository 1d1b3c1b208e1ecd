/**
 * gRPC health checking (grpc.health.v1.Health/Check) over the client's own channel. The two tiny messages are
 * encoded by hand rather than loading the health .proto at runtime.
 */
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import type { Client, ClientUnaryCall, Metadata, ServiceError } from '@grpc/grpc-js';
import type { HealthStatus } from './types.js';
import type { UnaryInvoker } from './unary.js';

const CHECK_PATH = '/grpc.health.v1.Health/Check';
const STATUSES: readonly HealthStatus[] = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/** HealthCheckRequest { string service = 1; } */
function encodeRequest(service: string): Buffer {
  const writer = new BinaryWriter();
  if (service) writer.uint32((1 << 3) | 2).string(service);
  return Buffer.from(writer.finish());
}

/** HealthCheckResponse { ServingStatus status = 1; } */
function decodeResponse(bytes: Buffer): HealthStatus {
  const reader = new BinaryReader(bytes);
  let status = 0;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === (1 << 3)) status = reader.int32();
    else reader.skip(tag & 7);
  }
  return STATUSES[status] ?? 'UNKNOWN';
}

/** A unary invoker for Health/Check of `service` ("" = the whole server). */
export function healthCheck(client: Client, service: string): UnaryInvoker<HealthStatus> {
  return (metadata: Metadata, options, callback: (error: ServiceError | null, status: HealthStatus) => void): ClientUnaryCall =>
    client.makeUnaryRequest<string, HealthStatus>(CHECK_PATH, encodeRequest, decodeResponse, service, metadata, options,
      (error, status) => callback(error, status ?? 'UNKNOWN'));
}
