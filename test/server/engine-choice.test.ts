/** --engine tfjs end to end: the server reports the engine and backend it really uses, and serves Predict with it. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Metadata, ModelServiceClient, PredictResponse } from '../../src/gen/modelhub/v1/model_service.js';
import { unary } from '../support/grpc.js';
import { png } from '../support/images.js';
import { modelClient, startTestServer, type TestServer } from '../support/server.js';
import { expectedTfjsBackend } from '../support/tfjs-backend.js';

let server: TestServer;
let client: ModelServiceClient;

beforeAll(async () => {
  server = await startTestServer(['--engine', 'tfjs', '--threads', '2', '--seed', '3']);
  client = modelClient(server.address);
});

afterAll(async () => {
  client?.close();
  await server?.shutdown(1000);
});

describe('--engine tfjs', () => {
  it('reports the tfjs engine and the backend in use', async () => {
    const { runtime } = await unary<object, Metadata>(client.getMetadata.bind(client), {});
    expect(runtime!.engine).toBe('tfjs');
    // tfjs-node where it installed (it sizes its own thread pool), else wasm with the 2 threads asked for.
    const { backend, threads } = expectedTfjsBackend(2);
    expect(runtime!.backend).toBe(backend);
    expect(runtime!.threads).toBe(threads);
    expect(runtime!.seed).toBe(3);
  });

  it('classifies an image', async () => {
    const response = await unary<object, PredictResponse>(client.predict.bind(client), {
      id: 'tfjs',
      topK: 3,
      input: { $case: 'image', value: await png(120, 90) },
    });
    expect(response.id).toBe('tfjs');
    expect(response.outputs[0]!.prediction).toHaveLength(3);
    expect(response.outputs[0]!.prediction[0]!.probability).toBeGreaterThan(0);
  });
});
