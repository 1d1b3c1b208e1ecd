/** Retries on UNAVAILABLE: a server that starts late is reached; other failures and streams are never retried. */
import { afterAll, describe, expect, it } from 'vitest';
import { Code, createModelClient, type ModelClient } from '../../src/client/index.js';
import { png } from '../support/images.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { failure } from '../support/client.js';
import { unusedPort } from '../support/ports.js';

let server: TestServer | undefined;
const clients: ModelClient[] = [];

afterAll(async () => {
  for (const client of clients) client.close();
  await server?.shutdown(1000);
});

function client(address: string, options: Parameters<typeof createModelClient>[1]): ModelClient {
  const created = createModelClient(address, options);
  clients.push(created);
  return created;
}

describe('retry', () => {
  it('with retries off, or once the attempts are spent, an unreachable server is UNAVAILABLE', async () => {
    const port = await unusedPort();
    const once = client(`127.0.0.1:${port}`, { retry: false });
    expect((await failure(once.getMetadata())).code).toBe(Code.UNAVAILABLE);
    const few = client(`127.0.0.1:${port}`, { retry: { maxAttempts: 3, initialBackoffMs: 10, maxBackoffMs: 20 } });
    const error = await failure(few.health());
    expect(error.codeName).toBe('UNAVAILABLE');
  });

  it('stops waiting between attempts when the call is aborted', async () => {
    const port = await unusedPort();
    const patient = client(`127.0.0.1:${port}`, {
      retry: { maxAttempts: 1000, initialBackoffMs: 50, maxBackoffMs: 100 },
    });
    const controller = new AbortController();
    const pending = patient.getMetadata({ signal: controller.signal });
    controller.abort();
    expect((await failure(pending)).code).toBe(Code.CANCELLED);
  });

  it('reaches a server that starts after the call began, and does not retry what is not UNAVAILABLE', async () => {
    const port = await unusedPort();
    const image = await png(64, 64);
    const patient = client(`127.0.0.1:${port}`, {
      retry: { maxAttempts: 10_000, initialBackoffMs: 50, maxBackoffMs: 250 },
      deadlineMs: 90_000,
    });
    // Nothing listens yet, so the first attempts fail (without retries that is the answer, as above); then the server
    // binds, answers UNAVAILABLE while its model loads, and serves.
    const prediction = patient.predict(image, { topK: 1 });
    server = await startTestServer(['--port', String(port), '--instance-id', 'late', '--threads', '2']);
    const result = await prediction;
    expect(result).toMatchObject({
      instance: 'late',
      labels: [expect.objectContaining({ label: expect.any(String) })],
    });

    const calls = async () =>
      (await server!.metrics.calls.get()).values
        .filter((v) => v.labels.method === 'Predict' && v.labels.code === 'INVALID_ARGUMENT')
        .reduce((sum, v) => sum + v.value, 0);
    const before = await calls();
    expect((await failure(patient.predict(image.subarray(0, 50)))).code).toBe(Code.INVALID_ARGUMENT);
    expect(await calls()).toBe(before + 1);
  });
});
