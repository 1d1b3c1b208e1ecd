/**
 * round_robin over three replicas (127.0.0.1-3, one port): calls spread evenly; and a retry of UNAVAILABLE lands on
 * another replica (a fourth, on 127.0.0.4, whose model never loads, so it answers UNAVAILABLE for good).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelClient, type ModelClient, type RawImage } from '../../src/client/index.js';
import { png, rgbPixels } from '../support/images.js';
import { startTestServer, type TestServer } from '../support/server.js';

const HOSTS = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];
let servers: TestServer[] = [];
let broken: TestServer;
let client: ModelClient;
let image: Buffer;

beforeAll(async () => {
  const replica = (host: string, port: number) =>
    startTestServer(['--host', host, '--port', String(port), '--instance-id', `replica-${host}`, '--threads', '1']);
  const first = await replica(HOSTS[0]!, 0);
  servers = [first, ...(await Promise.all(HOSTS.slice(1).map((host) => replica(host, first.port))))];
  broken = await startTestServer(
    [
      '--host',
      '127.0.0.4',
      '--port',
      String(first.port),
      '--instance-id',
      'broken',
      '--weights',
      '/nonexistent/weights.h5',
    ],
    { waitReady: false },
  );
  broken.ready.catch(() => {}); // its model is meant never to load
  client = createModelClient(HOSTS.map((host) => `${host}:${first.port}`).join(','));
  image = await png(64, 64);
});

afterAll(async () => {
  client?.close();
  await Promise.all([...servers, broken].map((server) => server?.shutdown(1000)));
});

/** Runs `count` predicts, `concurrency` at a time, and counts the answers per replica. */
async function predictions(count: number, concurrency: number): Promise<Map<string, number>> {
  const perInstance = new Map<string, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        const { instance } = await client.predict(image, { topK: 1 });
        perInstance.set(instance, (perInstance.get(instance) ?? 0) + 1);
      }
    }),
  );
  return perInstance;
}

describe('round_robin', () => {
  it('spreads 90 predicts over the three replicas, at least 20 each', async () => {
    expect(client.target).toMatch(/^ipv4:127\.0\.0\.1:\d+,127\.0\.0\.2:\d+,127\.0\.0\.3:\d+$/);
    const perInstance = await predictions(90, 6);
    expect([...perInstance.keys()].sort()).toEqual(HOSTS.map((host) => `replica-${host}`));
    for (const served of perInstance.values()) expect(served).toBeGreaterThanOrEqual(20);
  });

  const refusals = async () =>
    (await broken.metrics.calls.get()).values
      .filter((v) => v.labels.method === 'Predict' && v.labels.code === 'UNAVAILABLE')
      .reduce((sum, v) => sum + v.value, 0);

  /** Predicts one at a time through the two working replicas and the broken one; which replica answered each. */
  async function throughBrokenReplica(input: Buffer | RawImage): Promise<string[]> {
    const port = servers[0]!.port;
    const mixed = createModelClient([`127.0.0.1:${port}`, `127.0.0.2:${port}`, `127.0.0.4:${port}`]);
    try {
      const instances: string[] = [];
      // One at a time, so the round robin's turn after a refusal is a working replica's.
      for (let i = 0; i < 6; i++) instances.push((await mixed.predict(input, { topK: 1 })).instance);
      return instances;
    } finally {
      mixed.close();
    }
  }

  it('retries a call that a replica answers UNAVAILABLE on another replica', async () => {
    const instances = await throughBrokenReplica(image);
    expect(new Set(instances)).toEqual(new Set(['replica-127.0.0.1', 'replica-127.0.0.2']));
    expect(await refusals()).toBeGreaterThanOrEqual(1);
  });

  it("retries requests larger than grpc-js's default retry buffer (1 MiB) alike", async () => {
    const large: RawImage = { width: 800, height: 600, format: 'RGB8', data: rgbPixels(800, 600) };
    const before = await refusals();
    const instances = await throughBrokenReplica(large);
    expect(new Set(instances)).toEqual(new Set(['replica-127.0.0.1', 'replica-127.0.0.2']));
    expect(await refusals()).toBeGreaterThan(before);
  });
});
