/**
 * Scale-out with real server processes: three replicas on 127.0.0.1-3 (one port, as pods behind a headless Service
 * share one), one client balancing over them with round_robin. Calls spread evenly; a replica stopped with SIGTERM
 * mid-run drains (health NOT_SERVING, GOAWAY, admitted work finishes, exit 0) without one failed call, and no call
 * that starts after its drain began is answered by it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelClient, type ModelClient, type RawImage } from '../../src/client/index.js';
import { rgbPixels } from '../support/images.js';
import { waitFor } from '../support/poll.js';
import { startServerProcess, type ServerProcess } from '../support/subprocess.js';

const HOSTS = ['127.0.0.1', '127.0.0.2', '127.0.0.3'] as const;
const INSTANCES = ['r1', 'r2', 'r3'] as const;
const image: RawImage = { width: 64, height: 64, format: 'RGB8', data: rgbPixels(64, 64) };

let replicas: ServerProcess[] = [];
let port: number;
let client: ModelClient;

beforeAll(async () => {
  // Three replicas on two cores: one inference thread each.
  const replica = (i: number, replicaPort: number) =>
    startServerProcess([
      '--host',
      HOSTS[i]!,
      '--port',
      String(replicaPort),
      '--instance-id',
      INSTANCES[i]!,
      '--threads',
      '1',
      '--grace-period',
      '30',
    ]);
  const first = await replica(0, 0);
  port = first.port;
  replicas = [first, ...(await Promise.all([replica(1, port), replica(2, port)]))];
  client = createModelClient(
    HOSTS.map((host) => `${host}:${port}`),
    {
      deadlineMs: 30_000,
      retry: { maxAttempts: 5, initialBackoffMs: 50, maxBackoffMs: 500 },
    },
  );
  // Every replica connected before counting, so the round robin has all three from the first call.
  const seen = new Set<string>();
  await waitFor(
    async () => {
      seen.add((await client.getMetadata()).runtime?.instance ?? '');
      return INSTANCES.every((instance) => seen.has(instance));
    },
    20_000,
    'the client to reach all three replicas',
  );
});

afterAll(async () => {
  client?.close();
  for (const replica of replicas) replica.child.kill('SIGKILL');
});

interface Outcome {
  /** When the client started the call (ms since the epoch, the clock the servers' logs use). */
  readonly startedAt: number;
  readonly instance?: string;
  readonly error?: unknown;
}

/** `count` predicts, `concurrency` at a time; `onCompleted(n)` after each one finishes. */
async function run(
  count: number,
  concurrency: number,
  onCompleted: (done: number) => void = () => {},
): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  let started = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < count) {
        started++;
        const startedAt = Date.now();
        try {
          const { instance } = await client.predict(image, { topK: 1 });
          outcomes.push({ startedAt, instance });
        } catch (error) {
          outcomes.push({ startedAt, error });
        }
        onCompleted(outcomes.length);
      }
    }),
  );
  return outcomes;
}

function perInstance(outcomes: readonly Outcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { instance = 'failed' } of outcomes) counts[instance] = (counts[instance] ?? 0) + 1;
  return counts;
}

describe('three replicas behind one round_robin client', () => {
  it('share 90 calls fairly: at least 20 each', async () => {
    const outcomes = await run(90, 6);
    expect(outcomes.filter((o) => o.error)).toEqual([]);
    const counts = perInstance(outcomes);
    expect(Object.keys(counts).sort()).toEqual([...INSTANCES]);
    for (const instance of INSTANCES) expect(counts[instance], instance).toBeGreaterThanOrEqual(20);
  });

  it('lose none of 60 calls when one replica is stopped with SIGTERM after 30, and give it no new work once it drains', async () => {
    const stopped = replicas[1]!;
    const outcomes = await run(60, 6, (done) => {
      if (done === 30) stopped.child.kill('SIGTERM');
    });
    expect(outcomes.filter((o) => o.error)).toEqual([]);
    expect(outcomes).toHaveLength(60);
    expect(await stopped.exited).toBe(0);

    // The drain's first moment, by the replica's own clock (the same machine's): health NOT_SERVING and GOAWAY then.
    const drainBegan: number = stopped.logs.find((line) => line.msg === 'draining')!.time;
    const before = outcomes.filter((o) => o.startedAt < drainBegan);
    const after = outcomes.filter((o) => o.startedAt > drainBegan);
    expect(perInstance(before).r2).toBeGreaterThan(0);
    expect(after.length).toBeGreaterThan(0);
    expect(after.filter((o) => o.instance === 'r2')).toEqual([]);
    // The other two took over the rest of the run.
    const counts = perInstance(after);
    expect(counts.r1).toBeGreaterThan(0);
    expect(counts.r3).toBeGreaterThan(0);
  });
});
