/** The foundation over real gRPC: GetMetadata (typed and runtime-loaded clients), health, reflection. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status, type ServiceError } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import type { Metadata, ModelServiceClient } from '../../../../src/gen/modelhub/v1/model_service.js';
import { DEFAULT_CONTRIB_DIR } from '../../../../src/server/config.js';
import { dynamicClient, healthClient, PROTO_DIR, unary } from '../../../support/grpc.js';
import { listServices, reflectionSession, resolveService } from '../../../support/reflection.js';
import { waitFor } from '../../../support/poll.js';
import { modelClient, startTestServer, type TestServer } from '../../../support/server.js';

let server: TestServer;
let client: ModelServiceClient;

beforeAll(async () => {
  server = await startTestServer(['--seed', '7']);
  client = modelClient(server.address);
});

afterAll(async () => {
  client?.close();
  await server?.shutdown(1000);
});

describe('GetMetadata', () => {
  it('answers through the ts-proto client with config.json verbatim and the typed fields', async () => {
    const metadata = await unary<object, Metadata>(client.getMetadata.bind(client), {});
    expect(metadata.configJson).toBe(readFileSync(`${DEFAULT_CONTRIB_DIR}/model/config.json`, 'utf8'));
    expect(metadata.id).toBe('dbf35840-9c8d-408f-8a36-b9fe2f8e5546');
    expect(metadata.name).toBe('xception');
    expect(metadata.task).toBe('Classification');
    expect(metadata.inputFormats).toEqual(['image/png', 'image/jpg', 'image/jpeg']);
    expect(metadata.dimLimits).toEqual([
      { dimension: 'channels', min: 1, max: 4 },
      { dimension: 'height', min: 32, max: 0 },
      { dimension: 'width', min: 32, max: 0 },
    ]);
    expect(metadata.outputs).toEqual([
      {
        name: 'probabilities',
        type: 'label_list',
        description: 'Probabilities of the 1000 classes in the ImageNet dataset.',
        shape: [1000],
      },
    ]);
    expect(metadata.top).toBe(5);
    expect(metadata.sort).toBe(true);
    expect(metadata.labels).toHaveLength(1000);
    expect(metadata.labels[0]).toBe('tench, Tinca tinca');
    expect(metadata.modelLicense).toContain('MIT License');
    expect(metadata.sampleDataLicense).toContain('CC0');
    expect(metadata.sampleFiles.length).toBeGreaterThan(0);
  });

  it('reports the runtime honestly: engine, limits, and seeded weights as not pretrained', async () => {
    const { runtime } = await unary<object, Metadata>(client.getMetadata.bind(client), {});
    expect(runtime).toMatchObject({
      engine: 'onnx',
      backend: expect.stringContaining('onnxruntime'),
      pretrained: false,
      weightsSource: 'seeded-random',
      weightsFormat: 'seeded-random',
      seed: 7,
      maxConcurrency: 1,
      maxQueue: 64,
      maxMessageBytes: 16 * 1024 * 1024,
    });
    expect(runtime!.threads).toBeGreaterThan(0);
    expect(runtime!.weightsSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(runtime!.instance).toMatch(/:\d+$/);
  });

  it('answers a client built at runtime from the .proto with @grpc/proto-loader', async () => {
    const dynamic = dynamicClient(
      'modelhub/v1/model_service.proto',
      [PROTO_DIR],
      'modelhub.v1.ModelService',
      server.address,
    );
    try {
      const metadata = await unary<object, any>(dynamic.GetMetadata.bind(dynamic), {});
      expect(metadata.name).toBe('xception');
      expect(metadata.labels).toHaveLength(1000);
      expect(metadata.runtime.pretrained).toBe(false);
      expect(JSON.parse(metadata.config_json).modelhub).toEqual({ top: 5, sort: true });
    } finally {
      dynamic.close();
    }
  });
});

describe('reflection', () => {
  it('serves the model service in its own file, its imports by name, and they link (reflection.test.ts: the rest)', async () => {
    const session = reflectionSession(server.address, 'v1');
    try {
      expect(await listServices(session)).toEqual(
        expect.arrayContaining(['modelhub.v1.ModelService', 'grpc.health.v1.Health']),
      );
      const { registry, fileNames } = await resolveService(session, 'modelhub.v1.ModelService');
      expect(fileNames).toEqual(['modelhub/v1/model_service.proto', 'google/protobuf/timestamp.proto']);
      expect(registry.getService('modelhub.v1.ModelService')!.methods.map((method) => method.name)).toEqual([
        'GetMetadata',
        'Predict',
        'PredictStream',
      ]);
    } finally {
      session.close();
    }
  });
});

describe('health', () => {
  it('is NOT_SERVING while the model loads, SERVING once ready, NOT_SERVING while shutting down', async () => {
    const starting = await startTestServer([], { waitReady: false });
    const health = healthClient(starting.address);
    try {
      const check = () =>
        unary<object, { status: string }>(health.Check.bind(health), { service: '' }).then((r) => r.status);
      expect(await check()).toBe('NOT_SERVING');
      await starting.ready;
      expect(await check()).toBe('SERVING');
      expect(
        (await unary<object, { status: string }>(health.Check.bind(health), { service: 'modelhub.v1.ModelService' }))
          .status,
      ).toBe('SERVING');

      const seen: string[] = [];
      const watch = health.Watch({ service: '' });
      watch.on('data', (r: { status: string }) => seen.push(r.status));
      watch.on('error', () => {});
      await waitFor(() => seen.includes('SERVING'), 5000, 'SERVING on Watch');
      const shutdown = starting.shutdown(2000);
      await waitFor(() => seen.includes('NOT_SERVING'), 5000, 'NOT_SERVING on Watch');
      expect(await shutdown).toBe(true);
    } finally {
      health.close();
      await starting.shutdown(0);
    }
  });

  it('refuses inference with UNAVAILABLE while the model loads', async () => {
    const starting = await startTestServer([], { waitReady: false });
    const early = modelClient(starting.address);
    try {
      const error = await unary(early.predict.bind(early), { id: 'early', topK: 0, input: undefined }).catch(
        (e: ServiceError) => e,
      );
      expect((error as ServiceError).code).toBe(status.UNAVAILABLE);
      expect((error as ServiceError).details).toMatch(/loading/);
    } finally {
      early.close();
      await starting.ready.catch(() => {});
      await starting.shutdown(0);
    }
  });
});
