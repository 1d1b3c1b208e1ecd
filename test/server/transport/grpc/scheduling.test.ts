/** Load shedding, deadlines and cancellation, through real gRPC calls against a server with a tiny queue. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metadata as GrpcMetadata, status, type ServiceError } from '@grpc/grpc-js';
import { PixelFormat, type ModelServiceClient, type PredictRequest, type PredictResponse } from '../../../../src/gen/modelhub/v1/model_service.js';
import { engineRuns } from '../../../support/engine-runs.js';
import { rgbPixels } from '../../../support/images.js';
import { modelClient, startTestServer, waitFor, type TestServer } from '../../../support/server.js';

let server: TestServer;
let client: ModelServiceClient;
const frame = (id: string): PredictRequest => ({
  id, topK: 1, input: { $case: 'raw', value: { width: 299, height: 299, format: PixelFormat.PIXEL_FORMAT_RGB8, data: rgbPixels(299, 299) } },
});

function call(request: PredictRequest, deadline?: Date) {
  let cancel = () => {};
  const result = new Promise<PredictResponse>((resolve, reject) => {
    const c = client.predict(request, new GrpcMetadata(), deadline ? { deadline } : {}, (e, r) => (e ? reject(e) : resolve(r)));
    cancel = () => c.cancel();
  });
  return { result: result.then((r) => ({ ok: r }), (e: ServiceError) => ({ error: e })), cancel: () => cancel() };
}

beforeAll(async () => {
  server = await startTestServer(['--max-queue', '2', '--max-concurrency', '1', '--threads', '1']);
  client = modelClient(server.address);
});

afterAll(async () => {
  client?.close();
  await server?.shutdown(1000);
});

describe('scheduling', () => {
  it('refuses at once with RESOURCE_EXHAUSTED when the queue is full, while the admitted calls succeed', async () => {
    const before = await engineRuns(server);
    const calls = Array.from({ length: 12 }, (_, i) => call(frame(`burst-${i}`)));
    const results = await Promise.all(calls.map((c) => c.result));
    const refused = results.filter((r) => 'error' in r);
    const served = results.filter((r) => 'ok' in r);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect((r as { error: ServiceError }).error.code).toBe(status.RESOURCE_EXHAUSTED);
      expect((r as { error: ServiceError }).error.details).toMatch(/queue of 2 is full/);
    }
    expect(served.length).toBeGreaterThanOrEqual(3); // one running + two queued at least
    expect(await engineRuns(server) - before).toBe(served.length);
  });

  it('drops a request whose deadline passes while it waits in the queue, without running it', async () => {
    await waitFor(async () => server.metrics.queueDepth.get().then((m) => m.values[0]?.value === 0), 10_000, 'idle');
    const before = await engineRuns(server);
    const ahead = [call(frame('a1')), call(frame('a2'))];
    await waitFor(async () => (await server.metrics.inFlight.get()).values[0]?.value === 1, 5000, 'first run');
    const late = call(frame('late'), new Date(Date.now() + 30));
    const lateResult = await late.result;
    expect('error' in lateResult && lateResult.error.code).toBe(status.DEADLINE_EXCEEDED);
    await Promise.all(ahead.map((c) => c.result));
    await waitFor(async () => (await server.metrics.inFlight.get()).values[0]?.value === 0, 5000, 'idle engine');
    expect(await engineRuns(server) - before).toBe(2);
  });

  it('does no work for a call cancelled while queued', async () => {
    const before = await engineRuns(server);
    const ahead = call(frame('busy'));
    await waitFor(async () => (await server.metrics.inFlight.get()).values[0]?.value === 1, 5000, 'first run');
    const cancelled = call(frame('cancel-me'));
    await waitFor(async () => (await server.metrics.queueDepth.get()).values[0]?.value === 1, 5000, 'queued');
    cancelled.cancel();
    const result = await cancelled.result;
    expect('error' in result && result.error.code).toBe(status.CANCELLED);
    await ahead.result;
    await waitFor(async () => (await server.metrics.queueDepth.get()).values[0]?.value === 0, 5000, 'queue empty');
    await waitFor(async () => (await server.metrics.inFlight.get()).values[0]?.value === 0, 5000, 'idle engine');
    expect(await engineRuns(server) - before).toBe(1);
  });
});
