/** Load shedding, deadlines and cancellation, through real gRPC calls against a server with a small queue. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metadata as GrpcMetadata, status, type ServiceError } from '@grpc/grpc-js';
import type {
  ModelServiceClient,
  PredictRequest,
  PredictResponse,
} from '../../../../src/gen/modelhub/v1/model_service.js';
import { engineRuns } from '../../../support/engine-runs.js';
import { smallRawRequest } from '../../../support/images.js';
import { admittedRequests, metricValue } from '../../../support/metrics.js';
import { waitFor } from '../../../support/poll.js';
import { modelClient, startTestServer, type TestServer } from '../../../support/server.js';

const MAX_QUEUE = 6;

let server: TestServer;
let client: ModelServiceClient;
const frame = smallRawRequest;

type Outcome = { id: string; ok: PredictResponse } | { id: string; error: ServiceError };

/**
 * A Predict call. `serverTimeout` (gRPC's timeout format, e.g. "300m") travels as the grpc-timeout header with no
 * client deadline: the client never gives up by itself, so only the server can end the call when it passes.
 */
function call(request: PredictRequest, options: { serverTimeout?: string } = {}) {
  const metadata = new GrpcMetadata();
  if (options.serverTimeout) metadata.set('grpc-timeout', options.serverTimeout);
  let cancel = () => {};
  const result = new Promise<Outcome>((resolve) => {
    const c = client.predict(request, metadata, {}, (e, r) =>
      resolve(e ? { id: request.id, error: e } : { id: request.id, ok: r }),
    );
    cancel = () => c.cancel();
  });
  return { result, cancel: () => cancel() };
}

const registry = () => server.metrics.registry;
const inFlight = () => metricValue(registry(), 'xception_inflight_runs');
const queueDepth = () => metricValue(registry(), 'xception_queue_depth');

async function idle(): Promise<void> {
  await waitFor(async () => (await queueDepth()) === 0 && (await inFlight()) === 0, 20_000, 'an idle server');
}

beforeAll(async () => {
  server = await startTestServer(['--max-queue', String(MAX_QUEUE), '--max-concurrency', '1', '--threads', '1']);
  client = modelClient(server.address);
});

afterAll(async () => {
  client?.close();
  await server?.shutdown(1000);
});

describe('scheduling', () => {
  it('with one request running, admits exactly a full queue from a burst and refuses the rest at once with RESOURCE_EXHAUSTED', async () => {
    await idle();
    const before = await engineRuns(server);
    const running = call(frame('running'));
    await waitFor(async () => (await inFlight()) === 1, 10_000, 'the first run');
    // The burst arrives within milliseconds, while that run takes hundreds: the queue fills and nothing leaves it.
    const burst = Array.from({ length: 11 }, (_, i) => call(frame(`burst-${i}`)));
    const results = await Promise.all(burst.map((c) => c.result));
    expect('ok' in (await running.result)).toBe(true);

    const admitted = burst.slice(0, MAX_QUEUE).map((_, i) => `burst-${i}`);
    expect(results.filter((r) => 'ok' in r).map((r) => r.id)).toEqual(admitted);
    const refused = results.filter((r): r is Extract<Outcome, { error: ServiceError }> => 'error' in r);
    expect(refused.map((r) => r.id)).toEqual(
      Array.from({ length: 11 - MAX_QUEUE }, (_, i) => `burst-${MAX_QUEUE + i}`),
    );
    for (const { error } of refused) {
      expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(error.details).toBe(
        `server overloaded: all 1 inference slot(s) busy and the queue of ${MAX_QUEUE} is full; retry later with backoff`,
      );
    }
    // Every admitted request ran once; no refused one did.
    expect((await engineRuns(server)) - before).toBe(1 + MAX_QUEUE);
  });

  it('ends a queued call at the deadline it sent, on the server, and never runs it', async () => {
    await idle();
    const base = await admittedRequests(registry());
    const admittedSince = async () => (await admittedRequests(registry())).total - base.total;
    // Five ahead on one slot: the late call could run only after four whole inferences, long past its 300 ms.
    const ahead = Array.from({ length: 5 }, (_, i) => call(frame(`ahead-${i}`)));
    await waitFor(async () => (await admittedSince()) === 5, 10_000, 'the five ahead admitted');

    const expired = () =>
      metricValue(registry(), 'xception_calls_total', { method: 'Predict', code: 'DEADLINE_EXCEEDED' });
    const expiredBefore = await expired();
    const late = call(frame('late'), { serverTimeout: '300m' });
    await waitFor(async () => (await admittedSince()) === 6, 10_000, 'the late call queued');
    const lateResult = await late.result;
    expect('error' in lateResult && lateResult.error.code).toBe(status.DEADLINE_EXCEEDED);
    expect('error' in lateResult && lateResult.error.details).toMatch(/^deadline exceeded/i);
    // The server records what the client got, though grpc-js's own deadline timer may end the call before ours.
    await waitFor(
      async () => (await expired()) === expiredBefore + 1,
      10_000,
      'the call recorded as DEADLINE_EXCEEDED',
    );
    // It left the queue without a run: what the scheduler took in is back to the five ahead.
    await waitFor(async () => (await admittedSince()) === 5, 10_000, 'the late call gone from the queue');

    const results = await Promise.all(ahead.map((c) => c.result));
    expect(results.filter((r) => 'ok' in r).map((r) => r.id)).toEqual([
      'ahead-0',
      'ahead-1',
      'ahead-2',
      'ahead-3',
      'ahead-4',
    ]);
    await idle();
    expect(await admittedRequests(registry())).toEqual({ queued: 0, runs: base.runs + 5, total: base.total + 5 });
  });

  it('does no work for a call cancelled while queued', async () => {
    await idle();
    const before = await engineRuns(server);
    const ahead = call(frame('busy'));
    await waitFor(async () => (await inFlight()) === 1, 10_000, 'first run');
    const cancelled = call(frame('cancel-me'));
    await waitFor(async () => (await queueDepth()) === 1, 10_000, 'queued');
    cancelled.cancel();
    const result = await cancelled.result;
    expect('error' in result && result.error.code).toBe(status.CANCELLED);
    expect('ok' in (await ahead.result)).toBe(true);
    await idle();
    expect((await engineRuns(server)) - before).toBe(1);
  });
});
