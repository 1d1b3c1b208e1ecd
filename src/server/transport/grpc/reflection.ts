/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha) over the real file descriptors: the FileDescriptorSet that
 * `buf build` makes from proto/ and the health and reflection protos (buf.yaml) when the package is built. Clients get
 * each file under its own name with its imports, so buf curl, grpcurl and grpcio's descriptor pool can link them, and
 * every service of every file there is listed without naming any here.
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorSet } from '@bufbuild/protobuf/wkt';
import { ReflectionService } from '@grpc/reflection';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Relative to the package root, the same from src/ (tests) and dist/ (the installed package). */
export const DESCRIPTOR_SET_PATH = fileURLToPath(new URL('../../../../dist/descriptor-set.binpb', import.meta.url));

export function loadDescriptorSet(path: string = DESCRIPTOR_SET_PATH): FileDescriptorSet {
  if (!existsSync(path)) {
    throw new Error(`gRPC reflection needs the descriptor set ${path}; \`npm run build\` (buf build) makes it`);
  }
  return fromBinary(FileDescriptorSetSchema, readFileSync(path));
}

export function createReflectionService(descriptorSet: FileDescriptorSet): ReflectionService {
  const fileDescriptorProtos = descriptorSet.file.map((file) => Buffer.from(toBinary(FileDescriptorProtoSchema, file)));
  // @grpc/reflection reads only `fileDescriptorProtos` from a package definition's entries and indexes each file by its
  // own name; a definition from proto-loader would hand it protobufjs' regrouped files (modelhub_v1.proto, no imports).
  const definition = { descriptorSet: { fileDescriptorProtos } } as unknown as ConstructorParameters<
    typeof ReflectionService
  >[0];
  return new ReflectionService(definition);
}
