/** gRPC health checking (grpc.health.v1.Health/Check) over the client's own channel, with the generated stubs. */
import type { Client, ClientUnaryCall, Metadata, ServiceError } from '@grpc/grpc-js';
import {
  HealthService,
  healthCheckResponse_ServingStatusToJSON,
  type HealthCheckResponse,
} from '../gen/health/v1/health.js';
import type { HealthStatus } from './types.js';
import type { UnaryInvoker } from './unary.js';

const { path, requestSerialize, responseDeserialize } = HealthService.check;

/** A unary invoker for Health/Check of `service` ("" = the whole server). */
export function healthCheck(client: Client, service: string): UnaryInvoker<HealthStatus> {
  return (
    metadata: Metadata,
    options,
    callback: (error: ServiceError | null, status: HealthStatus) => void,
  ): ClientUnaryCall =>
    client.makeUnaryRequest(
      path,
      requestSerialize,
      responseDeserialize,
      { service },
      metadata,
      options,
      (error, response?: HealthCheckResponse) => {
        const status = response ? healthCheckResponse_ServingStatusToJSON(response.status) : 'UNKNOWN';
        callback(error, status === 'UNRECOGNIZED' ? 'UNKNOWN' : (status as HealthStatus));
      },
    );
}
