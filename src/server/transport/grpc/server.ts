/**
 * The gRPC server: ModelService, gRPC health (grpc.health.v1) and reflection on one port.
 * Health answers for "" (the whole server) and for "modelhub.v1.ModelService".
 */
import { Server, ServerCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath, type ServingStatus } from 'grpc-health-check';
import { fileURLToPath } from 'node:url';
import { ModelServiceService } from '../../../gen/modelhub/v1/model_service.js';
import { getMetadataHandler } from './get-metadata.js';
import type { HandlerContext } from './handler-context.js';
import { predictHandler } from './predict.js';
import { predictStreamHandler } from './predict-stream.js';

export const SERVICE_NAME = 'modelhub.v1.ModelService';
export const PROTO_DIR = fileURLToPath(new URL('../../../../proto', import.meta.url));
export const MODEL_SERVICE_PROTO = 'modelhub/v1/model_service.proto';

export interface GrpcServerOptions {
  readonly host: string;
  readonly port: number;
  readonly maxMessageBytes: number;
  readonly credentials?: ServerCredentials;
}

export interface GrpcServer {
  readonly server: Server;
  readonly port: number;
  setHealth(status: ServingStatus): void;
}

export async function startGrpcServer(context: HandlerContext, options: GrpcServerOptions): Promise<GrpcServer> {
  const channelOptions: ChannelOptions = {
    'grpc.max_receive_message_length': options.maxMessageBytes,
    'grpc.max_send_message_length': -1,
  };
  const server = new Server(channelOptions);
  server.addService(ModelServiceService, {
    getMetadata: getMetadataHandler(context),
    predict: predictHandler(context),
    predictStream: predictStreamHandler(context),
  });

  const health = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE_NAME]: 'NOT_SERVING' });
  health.addToServer(server);

  // Reflection reads the same .proto files the stubs are generated from, so grpcurl-style tools see the contract.
  const definitions = loadSync([MODEL_SERVICE_PROTO, healthProtoPath], {
    includeDirs: [PROTO_DIR],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  new ReflectionService(definitions).addToServer(server);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${formatHost(options.host)}:${options.port}`, options.credentials ?? ServerCredentials.createInsecure(),
      (error, boundPort) => (error ? reject(error) : resolve(boundPort)));
  });
  return {
    server,
    port,
    setHealth: (status) => {
      health.setStatus('', status);
      health.setStatus(SERVICE_NAME, status);
    },
  };
}

function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
