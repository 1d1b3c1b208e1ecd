/**
 * The ONNX engine runs ONNX Runtime in a worker thread so that an inference never holds the server's event loop: while
 * a run is in progress, the server still answers other calls. Proved by order of events, not by timing: the run is
 * observed started (the runs counter), then a gRPC health Check is answered while that same run is still in flight
 * (the in-flight gauge) and before any of its requests has been answered.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ModelServiceClient, PredictResponse } from '../../../../src/gen/modelhub/v1/model_service.js';
import { engineRuns } from '../../../support/engine-runs.js';
import { healthClient, unary } from '../../../support/grpc.js';
import { png } from '../../../support/images.js';
import { waitFor } from '../../../support/poll.js';
import { modelClient, startTestServer, type TestServer } from '../../../support/server.js';

/** One engine run of this many images: long enough that the check lands inside it on a fast machine too. */
const BATCH = 4;

let server: TestServer;
let client: ModelServiceClient;
let health: ReturnType<typeof healthClient>;

beforeAll(async () => {
  // One engine run at a time, and the four requests gathered into one run (the batch wait is long enough for them all).
  server = await startTestServer([
    '--engine',
    'onnx',
    '--threads',
    '2',
    '--max-concurrency',
    '1',
    '--max-batch',
    String(BATCH),
    '--batch-wait-ms',
    '1000',
  ]);
  client = modelClient(server.address);
  health = healthClient(server.address);
});

afterAll(async () => {
  client?.close();
  health?.close();
  await server?.shutdown(1000);
});

async function inFlightRuns(): Promise<number> {
  return (await server.metrics.inFlight.get()).values[0]?.value ?? 0;
}

it('answers a gRPC health Check while an inference is running, before the inference finishes', async () => {
  const image = await png(120, 90);
  const runsBefore = await engineRuns(server);
  let predictsAnswered = 0;
  const predictions = Array.from({ length: BATCH }, (_, i) =>
    unary<object, PredictResponse>(client.predict.bind(client), {
      id: `p${i}`,
      topK: 1,
      input: { $case: 'image', value: image },
    }).finally(() => {
      predictsAnswered++;
    }),
  );

  await waitFor(async () => (await engineRuns(server)) > runsBefore, 30_000, 'the engine run to start');
  const run = await engineRuns(server);
  expect(run).toBe(runsBefore + 1);

  const status = await unary<object, { status: string }>(health.Check.bind(health), { service: '' });
  // The state at the moment the check was answered: the same run (no other started) still in flight, nothing answered.
  const answeredThen = predictsAnswered;
  const inFlightThen = await inFlightRuns();
  const runsThen = await engineRuns(server);
  expect(status).toEqual({ status: 'SERVING' });
  expect(answeredThen).toBe(0);
  expect(inFlightThen).toBe(1);
  expect(runsThen).toBe(run);

  const answers = await Promise.all(predictions);
  expect(answers.map((a) => a.id)).toEqual(Array.from({ length: BATCH }, (_, i) => `p${i}`));
  for (const answer of answers) expect(answer.outputs[0]!.prediction).toHaveLength(1);
  expect(await inFlightRuns()).toBe(0);
});
