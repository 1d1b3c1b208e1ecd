/**
 * The Open Inference Protocol under the server's limits, as Predict is: RESOURCE_EXHAUSTED (REST 429) when a request's
 * elements do not fit the queue, DEADLINE_EXCEEDED at the caller's deadline, UNAVAILABLE (REST 503) and not ready
 * while the model loads, and bearer tokens on everything but the health calls.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metadata, status } from '@grpc/grpc-js';
import { engineRuns } from '../../../support/engine-runs.js';
import { rgbPixels } from '../../../support/images.js';
import { admittedRequests, metricValue } from '../../../support/metrics.js';
import { call, failure, oipClient, streamInfer, type OipClient } from '../../../support/oip.js';
import { waitFor } from '../../../support/poll.js';
import { startTestServer, type TestServer } from '../../../support/server.js';

const TOKEN = 'oip-test-token';
const MAX_QUEUE = 6;

/** N frames of the smallest size the model takes: cheap to send; the engine's work is the same at any size. */
const frames = (n: number) => ({
  model_name: 'xception',
  inputs: [
    {
      name: 'pixels',
      datatype: 'UINT8',
      shape: [n, 32, 32, 3],
      contents: { uint_contents: Array.from({ length: n }, (_, i) => [...rgbPixels(32, 32, i + 1)]).flat() },
    },
  ],
});

const jsonFrames = (n: number) => {
  const {
    inputs: [input],
  } = frames(n);
  return {
    inputs: [
      { name: input!.name, datatype: input!.datatype, shape: input!.shape, data: input!.contents.uint_contents },
    ],
  };
};

function headers(entries: Record<string, string>): Metadata {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(entries)) metadata.set(key, value);
  return metadata;
}

describe('scheduling limits', () => {
  let server: TestServer;
  let oip: OipClient;
  const idle = () =>
    waitFor(
      async () =>
        (await metricValue(server.metrics.registry, 'xception_queue_depth')) === 0 &&
        (await metricValue(server.metrics.registry, 'xception_inflight_runs')) === 0,
      20_000,
      'an idle server',
    );

  beforeAll(async () => {
    server = await startTestServer([
      '--max-queue',
      String(MAX_QUEUE),
      '--max-concurrency',
      '1',
      '--threads',
      '1',
      '--http-port',
      '0',
    ]);
    oip = oipClient(server.address);
  });

  afterAll(async () => {
    oip?.close();
    await server?.shutdown(1000);
  });

  it('RESOURCE_EXHAUSTED when a request has more elements than the queue has room for; none of them runs', async () => {
    await idle();
    const before = await engineRuns(server);
    const error = await failure(call(oip, 'ModelInfer', frames(MAX_QUEUE + 2)));
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error.details).toBe(
      `server overloaded: all 1 inference slot(s) busy and the queue of ${MAX_QUEUE} is full; retry later with backoff`,
    );
    await idle();
    expect(await engineRuns(server)).toBe(before);
  });

  it('REST answers the same 429 {"error"} with Retry-After', async () => {
    await idle();
    const response = await fetch(`http://127.0.0.1:${server.httpPort}/v2/models/xception/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(jsonFrames(MAX_QUEUE + 2)),
    });
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(await response.json()).toEqual({ error: expect.stringMatching(/queue of 6 is full/) });
  });

  it('DEADLINE_EXCEEDED, on the server, for a request still queued at its deadline', async () => {
    await idle();
    const base = await admittedRequests(server.metrics.registry);
    const admittedSince = async () => (await admittedRequests(server.metrics.registry)).total - base.total;
    // Five elements ahead on one slot: the late request could run only after four whole inferences, past its 300 ms.
    const ahead = call(oip, 'ModelInfer', frames(5));
    await waitFor(async () => (await admittedSince()) === 5, 10_000, 'the five ahead admitted');
    // grpc-timeout with no client deadline: only the server can end the call.
    const late = await failure(call(oip, 'ModelInfer', frames(1), headers({ 'grpc-timeout': '300m' })));
    expect(late.code).toBe(status.DEADLINE_EXCEEDED);
    expect(late.details).toMatch(/^deadline exceeded/i);
    const answer = await ahead;
    expect(answer.outputs[0].shape).toEqual(['5', '1000']);
  });
});

describe('loading and bearer tokens', () => {
  let server: TestServer;
  let oip: OipClient;
  let base: string;
  const withToken = () => headers({ authorization: `Bearer ${TOKEN}` });
  const rest = (path: string, init: RequestInit = {}) => fetch(`${base}${path}`, init);
  const restInfer = (token?: string) =>
    rest('/v2/models/xception/infer', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(jsonFrames(1)),
    });

  beforeAll(async () => {
    // Not waiting for the model: the first test sees the server while it loads.
    server = await startTestServer(['--threads', '2', '--auth-tokens', TOKEN, '--http-port', '0'], {
      waitReady: false,
    });
    oip = oipClient(server.address);
    base = `http://127.0.0.1:${server.httpPort}`;
  });

  afterAll(async () => {
    oip?.close();
    await server?.shutdown(1000);
  });

  it('while the model loads: live, not ready, inference UNAVAILABLE (REST 503); then ready', async () => {
    expect(await call(oip, 'ServerLive', {})).toEqual({ live: true });
    expect(await call(oip, 'ServerReady', {})).toEqual({ ready: false });
    expect(await call(oip, 'ModelReady', { name: 'xception' })).toEqual({ ready: false });
    const loading = await failure(call(oip, 'ModelInfer', frames(1), withToken()));
    expect(loading.code).toBe(status.UNAVAILABLE);
    expect(loading.details).toMatch(/still loading/);
    const ready = await rest('/v2/health/ready');
    expect([ready.status, await ready.json()]).toEqual([503, { ready: false }]);
    const modelReady = await rest('/v2/models/xception/ready');
    expect([modelReady.status, await modelReady.json()]).toEqual([503, { name: 'xception', ready: false }]);
    const infer = await restInfer(TOKEN);
    expect(infer.status).toBe(503);
    expect(infer.headers.get('retry-after')).toBe('1');

    await server.ready;
    expect(await call(oip, 'ServerReady', {})).toEqual({ ready: true });
    expect((await rest('/v2/health/ready')).status).toBe(200);
  });

  it('gRPC: ServerLive, ServerReady and ModelReady need no token; the other calls are UNAUTHENTICATED without one', async () => {
    await server.ready;
    expect(await call(oip, 'ServerLive', {})).toEqual({ live: true });
    expect(await call(oip, 'ServerReady', {})).toEqual({ ready: true });
    expect(await call(oip, 'ModelReady', { name: 'xception' })).toEqual({ ready: true });
    for (const [method, request] of [
      ['ServerMetadata', {}],
      ['ModelMetadata', { name: 'xception' }],
      ['ModelInfer', frames(1)],
    ] as const) {
      const refused = await failure(call(oip, method, request));
      expect(refused.code, method).toBe(status.UNAUTHENTICATED);
      expect(refused.details).toBe('missing bearer token');
      const wrong = await failure(call(oip, method, request, headers({ authorization: 'Bearer wrong' })));
      expect(wrong.code, method).toBe(status.UNAUTHENTICATED);
      expect(wrong.details).toBe('invalid bearer token');
    }
    const stream = await streamInfer(oip, [frames(1)]);
    expect(stream.status.code).toBe(status.UNAUTHENTICATED);
    expect(stream.responses).toEqual([]);

    expect((await call(oip, 'ServerMetadata', {}, withToken())).name).toBe('xception');
    expect((await call(oip, 'ModelInfer', frames(1), withToken())).outputs[0].shape).toEqual(['1', '1000']);
    const streamed = await streamInfer(oip, [frames(1)], withToken());
    expect(streamed.status.code).toBe(status.OK);
    expect(streamed.responses.map((r) => r.error_message)).toEqual(['']);
  });

  it('REST: the health routes need no token; /v2, model metadata and infer are 401 without one', async () => {
    await server.ready;
    for (const path of [
      '/v2/health/live',
      '/v2/health/ready',
      '/v2/models/xception/ready',
      '/v2/models/xception/versions/1/ready',
    ]) {
      expect((await rest(path)).status, path).toBe(200);
    }
    for (const path of ['/v2', '/v2/models/xception', '/v2/models/xception/versions/1']) {
      const response = await rest(path);
      expect(response.status, path).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer');
      expect((await rest(path, { headers: { authorization: `Bearer ${TOKEN}` } })).status, path).toBe(200);
    }
    const refused = await restInfer();
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({ error: 'missing bearer token' });
    expect((await restInfer(TOKEN)).status).toBe(200);
  });
});
