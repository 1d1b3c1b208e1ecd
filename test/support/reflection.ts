/**
 * Reflection clients for tests: one built at runtime from grpc's reflection protos (either version) that resolves a
 * service the way a reflection client must — the file declaring it, then every import by file name, linked into a
 * registry — and `buf curl`, a reflection client we did not write.
 */
import { createFileRegistry, fromBinary, type FileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import { Metadata, type ClientDuplexStream } from '@grpc/grpc-js';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dynamicClient, REFLECTION_PROTO_DIR } from './grpc.js';

export const REFLECTION_VERSIONS = ['v1', 'v1alpha'] as const;
export type ReflectionVersion = (typeof REFLECTION_VERSIONS)[number];

/** One ServerReflectionInfo stream; the server answers requests in order. Responses as proto-loader decodes them. */
export interface ReflectionSession {
  ask(request: Record<string, unknown>): Promise<Record<string, any>>;
  close(): void;
}

export function reflectionSession(
  address: string,
  version: ReflectionVersion,
  metadata = new Metadata(),
): ReflectionSession {
  const client = dynamicClient(
    `grpc/reflection/${version}/reflection.proto`,
    [REFLECTION_PROTO_DIR],
    `grpc.reflection.${version}.ServerReflection`,
    address,
  );
  const call: ClientDuplexStream<object, Record<string, any>> = client.ServerReflectionInfo(metadata);
  const waiting: { resolve: (response: Record<string, any>) => void; reject: (error: Error) => void }[] = [];
  let failure: Error | undefined;
  const fail = (error: Error) => {
    failure ??= error;
    for (const pending of waiting.splice(0)) pending.reject(failure);
  };
  call.on('data', (response) => waiting.shift()?.resolve(response));
  call.on('error', fail);
  call.on('end', () => fail(new Error('reflection stream ended')));
  return {
    ask: (request) =>
      new Promise((resolve, reject) => {
        if (failure) return reject(failure);
        waiting.push({ resolve, reject });
        call.write(request);
      }),
    close: () => {
      call.end();
      client.close();
    },
  };
}

export async function listServices(session: ReflectionSession): Promise<string[]> {
  const response = await session.ask({ list_services: '*' });
  return answer(response, 'list_services_response').service.map((service: { name: string }) => service.name);
}

/** The files of a file_containing_symbol or file_by_filename answer, decoded; the first is the one asked for. */
export async function fileDescriptors(
  session: ReflectionSession,
  request: Record<string, unknown>,
): Promise<FileDescriptorProto[]> {
  const response = await session.ask(request);
  return answer(response, 'file_descriptor_response').file_descriptor_proto.map((bytes: Uint8Array) =>
    fromBinary(FileDescriptorProtoSchema, bytes),
  );
}

export interface ResolvedService {
  readonly registry: FileRegistry;
  /** The declaring file first, then its imports in the order they were fetched. */
  readonly fileNames: string[];
}

/**
 * What a reflection client does before it can call a service: the file declaring it (file_containing_symbol), then
 * each import, transitively, by its name (file_by_filename), linked into one registry. Linking throws on a missing
 * or misnamed file, as grpcio's descriptor pool and buf curl fail.
 */
export async function resolveService(session: ReflectionSession, serviceName: string): Promise<ResolvedService> {
  const [declaring] = await fileDescriptors(session, { file_containing_symbol: serviceName });
  const files = new Map([[declaring!.name, declaring!]]);
  const imports = [...declaring!.dependency];
  for (let name = imports.shift(); name !== undefined; name = imports.shift()) {
    if (files.has(name)) continue;
    const [file] = await fileDescriptors(session, { file_by_filename: name });
    if (file!.name !== name) throw new Error(`file_by_filename ${name} answered ${file!.name}`);
    files.set(name, file!);
    imports.push(...file!.dependency);
  }
  const registry = createFileRegistry(declaring!, (name) => files.get(name));
  return { registry, fileNames: [...files.keys()] };
}

function answer(response: Record<string, any>, field: string): any {
  const error = response.error_response;
  if (error)
    throw Object.assign(new Error(`reflection error ${error.error_code}: ${error.error_message}`), {
      code: error.error_code,
    });
  return response[field];
}

const BUF = fileURLToPath(new URL('../../node_modules/.bin/buf', import.meta.url));

export interface BufCurlResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * `buf curl` over plaintext HTTP/2 with the gRPC protocol, its schema from server reflection only: it runs in a temporary
 * folder, away from this repository's buf.yaml and .proto files.
 */
export function bufCurl(args: string[]): Promise<BufCurlResult> {
  return new Promise((resolve) => {
    execFile(
      BUF,
      ['curl', '--http2-prior-knowledge', '--protocol', 'grpc', ...args],
      { cwd: tmpdir(), maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ exitCode: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}
