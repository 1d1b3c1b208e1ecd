/** Promise wrappers and runtime-loaded clients for tests. */
import { credentials, loadPackageDefinition, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { fileURLToPath } from 'node:url';

export const PROTO_DIR = fileURLToPath(new URL('../../proto', import.meta.url));

/** Calls a callback-style unary method and returns a promise. */
export function unary<Req, Res>(
  call: (request: Req, callback: (error: ServiceError | null, response: Res) => void) => unknown,
  request: Req,
): Promise<Res> {
  return new Promise((resolve, reject) =>
    call(request, (error, response) => (error ? reject(error) : resolve(response))),
  );
}

/** Calls a callback-style unary method; resolves with the response or the error it failed with, for tests that expect either. */
export function settled<Req, Res>(
  call: (request: Req, callback: (error: ServiceError | null, response: Res) => void) => unknown,
  request: Req,
): Promise<Res | ServiceError> {
  return new Promise((resolve) => call(request, (error, response) => resolve(error ?? response)));
}

type Constructor = new (
  address: string,
  creds: ReturnType<typeof credentials.createInsecure>,
) => Client & Record<string, any>;

/** A client built at runtime from a .proto file, as a service in another language would. */
export function dynamicClient(
  protoFile: string,
  includeDirs: string[],
  servicePath: string,
  address: string,
): Client & Record<string, any> {
  const definition = loadSync(protoFile, {
    includeDirs,
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  let node: any = loadPackageDefinition(definition);
  for (const part of servicePath.split('.')) node = node[part];
  return new (node as Constructor)(address, credentials.createInsecure());
}

export function healthClient(address: string): Client & Record<string, any> {
  return dynamicClient(healthProtoPath, [], 'grpc.health.v1.Health', address);
}

export const REFLECTION_PROTO_DIR = fileURLToPath(
  new URL('../../node_modules/@grpc/reflection/build/proto', import.meta.url),
);
