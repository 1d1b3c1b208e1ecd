/** The service's limits seen through HTTP: upload size (413), a full queue (429), and a client that leaves. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineRuns } from '../../../support/engine-runs.js';
import { png } from '../../../support/images.js';
import { waitFor } from '../../../support/poll.js';
import { errorOf, startHttpTestServer, upload, type HttpTestServer } from './helpers.js';

let server: HttpTestServer;

beforeAll(async () => {
  server = await startHttpTestServer([
    '--max-message-bytes',
    '65536',
    '--max-queue',
    '1',
    '--max-concurrency',
    '1',
    '--threads',
    '1',
  ]);
});

afterAll(async () => {
  await server?.shutdown(1000);
});

const gauge = async (metric: { get(): Promise<{ values: { value: number }[] }> }) =>
  (await metric.get()).values[0]?.value;

describe('limits', () => {
  it('an upload over --max-message-bytes is 413 {"error"}, and the server goes on serving', async () => {
    const response = await upload(server.base, Buffer.alloc(100_000, 7));
    expect(response.status).toBe(413);
    expect(await errorOf(response)).toMatch(/file too large/i);
    expect((await fetch(`${server.base}/api/get_model_io`)).status).toBe(200);
  });

  it('a full queue answers 429 {"error"} with Retry-After at once, while admitted requests succeed', async () => {
    const image = await png(64, 64);
    const before = await engineRuns(server);
    const responses = await Promise.all(Array.from({ length: 8 }, () => upload(server.base, image)));
    const refused = responses.filter((r) => r.status === 429);
    const served = responses.filter((r) => r.status === 200);
    expect(refused.length).toBeGreaterThan(0);
    expect(served.length + refused.length).toBe(8);
    for (const response of refused) {
      expect(response.headers.get('retry-after')).toBe('1');
      expect(await errorOf(response)).toMatch(/queue of 1 is full/);
    }
    expect((await engineRuns(server)) - before).toBe(served.length);
  });

  it('a request whose client went away while it waited in the queue is never run', async () => {
    const image = await png(64, 64);
    await waitFor(async () => (await gauge(server.metrics.inFlight)) === 0, 10_000, 'idle engine');
    const before = await engineRuns(server);
    const ahead = upload(server.base, image);
    await waitFor(async () => (await gauge(server.metrics.inFlight)) === 1, 10_000, 'first run');
    const controller = new AbortController();
    const form = new FormData();
    form.append('file', new Blob([image]), 'x.png');
    const leaving = fetch(`${server.base}/api/predict`, {
      method: 'POST',
      body: form,
      signal: controller.signal,
    }).catch((e: Error) => e);
    await waitFor(async () => (await gauge(server.metrics.queueDepth)) === 1, 10_000, 'queued');
    controller.abort();
    expect(await leaving).toBeInstanceOf(Error);
    expect((await ahead).status).toBe(200);
    await waitFor(async () => (await gauge(server.metrics.queueDepth)) === 0, 10_000, 'queue empty');
    await waitFor(async () => (await gauge(server.metrics.inFlight)) === 0, 10_000, 'idle engine');
    expect((await engineRuns(server)) - before).toBe(1);
  });
});

describe('deadline', () => {
  it('a request past its x-request-timeout is answered 504 and never run', async () => {
    const image = await png(64, 64);
    await waitFor(async () => (await gauge(server.metrics.inFlight)) === 0, 10_000, 'idle engine');
    const before = await engineRuns(server);
    const ahead = upload(server.base, image);
    await waitFor(async () => (await gauge(server.metrics.inFlight)) === 1, 10_000, 'first run');
    // With a run in progress, a request of 1 ms cannot reach the engine in time.
    const form = new FormData();
    form.append('file', new Blob([image]), 'x.png');
    const late = await fetch(`${server.base}/api/predict`, {
      method: 'POST',
      body: form,
      headers: { 'x-request-timeout': '1' },
    });
    expect(late.status).toBe(504);
    expect(await errorOf(late)).toMatch(/^deadline exceeded/);
    expect((await ahead).status).toBe(200);
    await waitFor(async () => (await gauge(server.metrics.inFlight)) === 0, 10_000, 'idle engine');
    expect((await engineRuns(server)) - before).toBe(1);
  });

  it('refuses an x-request-timeout that is not a whole number of milliseconds with 400', async () => {
    for (const value of ['soon', '1.5', '0', '-3']) {
      const response = await fetch(`${server.base}/api/predict_sample?filename=orange.jpg`, {
        headers: { 'x-request-timeout': value },
      });
      expect(response.status, value).toBe(400);
      expect(await errorOf(response)).toBe(
        `x-request-timeout must be a whole number of milliseconds ≥ 1, got "${value}"`,
      );
    }
  });
});

describe('shutdown', () => {
  it('lets a running HTTP predict finish, then closes the HTTP port', async () => {
    const running = upload(server.base, await png(64, 64));
    await waitFor(async () => (await gauge(server.metrics.inFlight)) === 1, 10_000, 'run started');
    const finished = server.shutdown(10_000);
    expect((await running).status).toBe(200);
    expect(await finished).toBe(true);
    const after = await fetch(`${server.base}/api/get_model_io`).then(
      (r) => r.status,
      (e: Error) => e,
    );
    expect(after).toBeInstanceOf(Error);
  });
});
