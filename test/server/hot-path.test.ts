/**
 * The serving path allocates no tensor memory per request once warm: every admitted request writes its image into a
 * reused slab shared with the engine worker, and gives it back when answered, refused or cancelled.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelClient, type ModelClient } from '../../src/client/index.js';
import { jpeg, png, rgbPixels } from '../support/images.js';
import { metricValue } from '../support/metrics.js';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
let client: ModelClient;

const slabs = (state: 'allocated' | 'in_use') =>
  metricValue(server.metrics.registry, 'xception_tensor_slabs', { state });

beforeAll(async () => {
  server = await startTestServer(['--threads', '2', '--max-concurrency', '1']);
  client = createModelClient(server.address);
});

afterAll(async () => {
  client?.close();
  await server?.shutdown(1000);
});

describe('tensor slabs', () => {
  it('are reused: after warm-up, more predictions of every input kind allocate none', async () => {
    const inputs = [
      await jpeg(320, 213, 3),
      await png(40, 33, 4),
      { width: 299, height: 299, format: 'RGB8' as const, data: rgbPixels(299, 299, 5) },
      { width: 64, height: 48, format: 'BGR8' as const, data: rgbPixels(64, 48, 6) },
    ];
    // Warm-up: the same concurrency as the measured rounds, so the pool reaches its working size.
    for (let round = 0; round < 2; round++) await Promise.all(inputs.map((input) => client.predict(input)));
    const warm = await slabs('allocated');
    expect(warm).toBeGreaterThanOrEqual(1);
    expect(warm).toBeLessThanOrEqual(inputs.length + 1); // one per admitted request at most (+1: the warm-up run's)

    for (let round = 0; round < 8; round++) {
      const answers = await Promise.all(inputs.map((input) => client.predict(input, { topK: 3 })));
      for (const answer of answers) expect(answer.labels).toHaveLength(3);
    }
    expect(await slabs('allocated')).toBe(warm);
    expect(await slabs('in_use')).toBe(0);
  });

  it('go back to the pool when an admitted request fails to prepare', async () => {
    const warm = await slabs('allocated');
    const refusals = await Promise.all(
      [0, 1, 2].map(() =>
        client.predict(new Uint8Array([1, 2, 3, 4])).then(
          () => 'answered',
          (e: { codeName?: string }) => e.codeName,
        ),
      ),
    );
    expect(refusals).toEqual(['INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT']);
    await Promise.all([1, 2].map((seed) => jpeg(320, 213, seed).then((image) => client.predict(image))));
    expect(await slabs('allocated')).toBe(warm);
    expect(await slabs('in_use')).toBe(0);
  });
});
