/**
 * Server reflection as real reflection clients use it, against the built server (dist/) as its own process: both
 * grpc.reflection.v1 and v1alpha serve each file under its own name with its imports, so every listed service links;
 * `buf curl` lists and calls methods with nothing but reflection for a schema; every listed method is one the server
 * serves; --public-reflection opens both versions; the descriptor set ships in the package.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DescMethod } from '@bufbuild/protobuf';
import { Client, credentials, status, type StatusObject } from '@grpc/grpc-js';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DEFAULT_CONTRIB_DIR } from '../../../../src/server/config.js';
import {
  bufCurl,
  fileDescriptors,
  listServices,
  REFLECTION_VERSIONS,
  reflectionSession,
  resolveService,
  type ReflectionSession,
} from '../../../support/reflection.js';
import { startTestServer } from '../../../support/server.js';
import { startServerProcess, type ServerProcess } from '../../../support/subprocess.js';

const MODEL_SERVICE = 'modelhub.v1.ModelService';
const HEALTH_SERVICE = 'grpc.health.v1.Health';

let proc: ServerProcess;

beforeAll(async () => {
  proc = await startServerProcess(['--seed', '7']);
});

afterAll(async () => {
  proc?.child.kill('SIGTERM');
  await proc?.exited;
});

describe.each(REFLECTION_VERSIONS)('grpc.reflection.%s', (version) => {
  let session: ReflectionSession;
  beforeAll(() => {
    session = reflectionSession(proc.address, version);
  });
  afterAll(() => session?.close());

  it('lists the model service, health and reflection itself', async () => {
    expect(await listServices(session)).toEqual(
      expect.arrayContaining([
        MODEL_SERVICE,
        HEALTH_SERVICE,
        'grpc.reflection.v1.ServerReflection',
        'grpc.reflection.v1alpha.ServerReflection',
      ]),
    );
  });

  it('resolves the model service from its own file and imports, fetched by name, and they link', async () => {
    const { registry, fileNames } = await resolveService(session, MODEL_SERVICE);
    expect(fileNames).toEqual(['modelhub/v1/model_service.proto', 'google/protobuf/timestamp.proto']);

    const service = registry.getService(MODEL_SERVICE)!;
    const kinds = Object.fromEntries(service.methods.map((method) => [method.name, method.methodKind]));
    expect(kinds).toEqual({ GetMetadata: 'unary', Predict: 'unary', PredictStream: 'bidi_streaming' });
    const predict = service.methods.find((method) => method.name === 'Predict')!;
    expect(predict.input.typeName).toBe('modelhub.v1.PredictRequest');
    expect(predict.output.typeName).toBe('modelhub.v1.PredictResponse');
    expect(predict.output.fields.find((field) => field.name === 'timestamp')?.message?.typeName).toBe(
      'google.protobuf.Timestamp',
    );
  });

  it('resolves and links every listed service, health among them', async () => {
    const names = await listServices(session);
    for (const name of names) {
      const { registry } = await resolveService(session, name);
      expect(registry.getService(name), name).toBeDefined();
    }
    const { registry, fileNames } = await resolveService(session, HEALTH_SERVICE);
    expect(fileNames).toEqual(['health/v1/health.proto']);
    const kinds = Object.fromEntries(
      registry.getService(HEALTH_SERVICE)!.methods.map((method) => [method.name, method.methodKind]),
    );
    expect(kinds).toMatchObject({ Check: 'unary', Watch: 'server_streaming' });
  });

  it('answers NOT_FOUND for a file or symbol it does not have, protobufjs-style bundle names included', async () => {
    for (const request of [
      { file_by_filename: 'modelhub_v1.proto' },
      { file_containing_symbol: 'modelhub.v1.NoSuchService' },
    ]) {
      await expect(fileDescriptors(session, request)).rejects.toMatchObject({ code: status.NOT_FOUND });
    }
  });
});

describe('what reflection lists', () => {
  it('is served: no listed method answers "does not implement the method"', async () => {
    const session = reflectionSession(proc.address, 'v1');
    const client = new Client(proc.address, credentials.createInsecure());
    try {
      const unserved: string[] = [];
      for (const name of await listServices(session)) {
        const { registry } = await resolveService(session, name);
        for (const method of registry.getService(name)!.methods) {
          const path = `/${name}/${method.name}`;
          const answer = await callWithEmptyMessage(client, path, method.methodKind);
          if (answer.code === status.UNIMPLEMENTED && answer.details.includes('does not implement the method'))
            unserved.push(path);
        }
      }
      expect(unserved).toEqual([]);
    } finally {
      session.close();
      client.close();
    }
  });
});

describe('buf curl with server reflection as its only schema', () => {
  const url = () => `http://${proc.address}`;

  it.each(['grpc-v1', 'grpc-v1alpha'])('lists the methods over %s', async (protocol) => {
    const listing = await bufCurl(['--reflect-protocol', protocol, '--list-methods', url()]);
    expect(listing.stderr).toBe('');
    expect(listing.exitCode).toBe(0);
    expect(listing.stdout.split('\n')).toEqual(
      expect.arrayContaining([
        `${MODEL_SERVICE}/GetMetadata`,
        `${MODEL_SERVICE}/Predict`,
        `${MODEL_SERVICE}/PredictStream`,
        `${HEALTH_SERVICE}/Check`,
        `${HEALTH_SERVICE}/Watch`,
      ]),
    );
  });

  it('calls GetMetadata', async () => {
    const result = await bufCurl([`${url()}/${MODEL_SERVICE}/GetMetadata`]);
    expect(result.exitCode, result.stderr).toBe(0);
    const metadata = JSON.parse(result.stdout);
    expect(metadata).toMatchObject({
      name: 'xception',
      task: 'Classification',
      runtime: { weightsSource: 'seeded-random', seed: 7 },
    });
    expect(metadata.labels).toHaveLength(1000);
  });

  it('calls Predict with a base64 image in the JSON body, and the answer carries its Timestamp', async () => {
    const image = readFileSync(`${DEFAULT_CONTRIB_DIR}/sample_data/orange.jpg`).toString('base64');
    const result = await bufCurl([
      '-d',
      JSON.stringify({ id: 'orange', image, top_k: 3 }),
      `${url()}/${MODEL_SERVICE}/Predict`,
    ]);
    expect(result.exitCode, result.stderr).toBe(0);
    const response = JSON.parse(result.stdout);
    expect(response.id).toBe('orange');
    expect(response.outputs[0].name).toBe('probabilities');
    expect(response.outputs[0].prediction).toHaveLength(3);
    expect(response.outputs[0].prediction[0]).toMatchObject({
      label: expect.any(String),
      probability: expect.any(Number),
    });
    expect(response.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  });

  it("gets the server's INVALID_ARGUMENT for bytes that are not an image", async () => {
    const notAnImage = Buffer.from('not an image').toString('base64');
    const result = await bufCurl([
      '-d',
      JSON.stringify({ id: 'bad', image: notAnImage }),
      `${url()}/${MODEL_SERVICE}/Predict`,
    ]);
    expect(result.exitCode).not.toBe(0);
    expect(JSON.parse(result.stderr)).toMatchObject({ code: 'invalid_argument' });
  });

  it('calls grpc.health.v1.Health/Check', async () => {
    const result = await bufCurl(['-d', '{"service":""}', `${url()}/${HEALTH_SERVICE}/Check`]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ status: 'SERVING' });
  });
});

describe('reflection with tokens on', () => {
  // Refusal without a token is the interceptor's default for every service (grpc-auth.test.ts); the exemption is by
  // service name, so both versions' names are checked here.
  it('answers without a token on both versions with --public-reflection', async () => {
    const server = await startTestServer(['--auth-tokens', 'only-token', '--public-reflection'], { waitReady: false });
    try {
      for (const version of REFLECTION_VERSIONS) {
        const session = reflectionSession(server.address, version);
        try {
          expect(await listServices(session), version).toContain(MODEL_SERVICE);
          expect(
            (await resolveService(session, MODEL_SERVICE)).registry.getService(MODEL_SERVICE),
            version,
          ).toBeDefined();
        } finally {
          session.close();
        }
      }
    } finally {
      await server.ready.catch(() => {});
      await server.shutdown(0);
    }
  });
});

describe('the package', () => {
  it('ships the descriptor set reflection reads', async () => {
    const root = fileURLToPath(new URL('../../../..', import.meta.url));
    const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: root,
    });
    const [pack] = JSON.parse(stdout) as { files: { path: string }[] }[];
    expect(pack!.files.map((file) => file.path)).toContain('dist/descriptor-set.binpb');
  });
});

/** Calls a method with an empty message (valid for every message type); a server stream is cancelled at its first message. */
function callWithEmptyMessage(client: Client, path: string, kind: DescMethod['methodKind']): Promise<StatusObject> {
  const asIs = (bytes: Buffer) => bytes;
  const empty = Buffer.alloc(0);
  const options = { deadline: Date.now() + 10_000 };
  return new Promise((resolve) => {
    switch (kind) {
      case 'unary':
        client.makeUnaryRequest(path, asIs, asIs, empty, options, () => {}).on('status', resolve);
        return;
      case 'client_streaming':
        client
          .makeClientStreamRequest(path, asIs, asIs, options, () => {})
          .on('status', resolve)
          .end();
        return;
      case 'server_streaming': {
        const call = client.makeServerStreamRequest(path, asIs, asIs, empty, options);
        call
          .on('data', () => call.cancel())
          .on('error', () => {})
          .on('status', resolve);
        return;
      }
      case 'bidi_streaming': {
        const call = client.makeBidiStreamRequest(path, asIs, asIs, options);
        call
          .on('data', () => call.cancel())
          .on('error', () => {})
          .on('status', resolve);
        call.end();
      }
    }
  });
}
