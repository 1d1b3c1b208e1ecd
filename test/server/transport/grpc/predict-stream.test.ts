/**
 * PredictStream over real gRPC: order, per-frame errors and the "latest" live-video policy. Backpressure:
 * test/server/stream-backpressure.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import {
  PixelFormat,
  type ModelServiceClient,
  type PredictRequest,
} from '../../../../src/gen/modelhub/v1/model_service.js';
import { engineRuns } from '../../../support/engine-runs.js';
import { png, rgbPixels } from '../../../support/images.js';
import { metricValue, watchMax } from '../../../support/metrics.js';
import { waitFor } from '../../../support/poll.js';
import { modelClient, startTestServer, type TestServer } from '../../../support/server.js';
import { openStream } from '../../../support/stream.js';

let server: TestServer;
let client: ModelServiceClient;
const pixels = rgbPixels(299, 299);
const frame = (id: string): PredictRequest => ({
  id,
  topK: 1,
  input: { $case: 'raw', value: { width: 299, height: 299, format: PixelFormat.PIXEL_FORMAT_RGB8, data: pixels } },
});

beforeAll(async () => {
  // Two engine slots, so that "one frame of a latest stream in the engine at a time" is the policy's doing.
  server = await startTestServer(['--stream-max-in-flight', '4', '--threads', '1', '--max-concurrency', '2']);
  client = modelClient(server.address);
});

afterAll(async () => {
  client?.close();
  await server?.shutdown(1000);
});

describe('PredictStream', () => {
  it('answers every frame once, in request order, echoing ids', async () => {
    const stream = openStream(client);
    const ids = Array.from({ length: 12 }, (_, i) => `frame-${i}`);
    for (const id of ids) stream.call.write(frame(id));
    stream.call.end();
    await waitFor(() => stream.ended || stream.error, 30_000, 'stream end');
    expect(stream.error).toBeUndefined();
    expect(stream.responses.map((r) => r.id)).toEqual(ids);
    for (const r of stream.responses) expect(r.outputs[0]!.prediction).toHaveLength(1);
  });

  it('answers a corrupt frame with an error and goes on with the next ones', async () => {
    const stream = openStream(client);
    stream.call.write(frame('good-1'));
    stream.call.write({
      id: 'corrupt',
      topK: 0,
      input: { $case: 'image', value: (await png(100, 100)).subarray(0, 120) },
    });
    stream.call.write({
      id: 'short',
      topK: 0,
      input: {
        $case: 'raw',
        value: { width: 50, height: 50, format: PixelFormat.PIXEL_FORMAT_RGB8, data: Buffer.alloc(10) },
      },
    });
    stream.call.write(frame('good-2'));
    stream.call.end();
    await waitFor(() => stream.ended || stream.error, 30_000, 'stream end');
    expect(stream.error).toBeUndefined();
    expect(stream.responses.map((r) => r.id)).toEqual(['good-1', 'corrupt', 'short', 'good-2']);
    expect(stream.responses[1]!.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(stream.responses[1]!.outputs).toEqual([]);
    expect(stream.responses[2]!.error).toMatchObject({
      code: status.INVALID_ARGUMENT,
      message: expect.stringMatching(/7500/),
    });
    expect(stream.responses[3]!.error).toBeUndefined();
    expect(stream.responses[3]!.outputs[0]!.prediction).toHaveLength(1);
  });

  it('with the "latest" policy: one frame in the engine and the next prepared, runs only for answered frames, stale ones ABORTED, all in order', async () => {
    const metrics = server.metrics.registry;
    const [runsBefore, droppedBefore] = await Promise.all([
      engineRuns(server),
      metricValue(metrics, 'xception_stream_dropped_frames_total'),
    ]);
    const working = watchMax(() => metricValue(metrics, 'xception_stream_frames_working'));
    const inEngine = watchMax(() => metricValue(metrics, 'xception_inflight_runs'));
    const stream = openStream(client, { 'x-stream-policy': 'latest' });
    const ids = Array.from({ length: 12 }, (_, i) => `live-${i}`);
    for (const id of ids) stream.call.write(frame(id)); // far faster than inference: most frames go stale
    // Every frame is answered while the stream stays open and nothing more is sent: a dropped frame's answer waits
    // for no newer frame and for no end of the stream, only for the answers before it.
    await waitFor(() => stream.responses.length === ids.length || stream.error, 30_000, 'an answer to every frame');
    stream.call.end();
    await waitFor(() => stream.ended || stream.error, 10_000, 'stream end');
    expect(stream.error).toBeUndefined();

    expect(stream.responses.map((r) => r.id)).toEqual(ids); // one answer per frame, in order
    const served = stream.responses.filter((r) => !r.error);
    const dropped = stream.responses.filter((r) => r.error);
    // The stream has one frame in the engine and the next one prepared, never more, and no work is spent on a
    // dropped frame.
    expect(await working.stop()).toBe(2);
    expect(await inEngine.stop()).toBe(1);
    expect((await engineRuns(server)) - runsBefore).toBe(served.length);
    for (const answer of dropped)
      expect(answer.error).toMatchObject({ code: status.ABORTED, message: expect.stringMatching(/dropped/) });
    expect(dropped.length).toBeGreaterThan(0);
    expect(served.at(-1)!.id).toBe(ids.at(-1)); // the newest frame is never dropped
    for (const answer of served) expect(answer.outputs[0]!.prediction).toHaveLength(1);
    expect((await metricValue(metrics, 'xception_stream_dropped_frames_total')) - droppedBefore).toBe(dropped.length);
  });

  it('refuses an unknown policy with INVALID_ARGUMENT', async () => {
    const stream = openStream(client, { 'x-stream-policy': 'sometimes' });
    stream.call.end();
    await waitFor(() => stream.error, 10_000, 'refusal');
    expect((stream.error as any).code).toBe(status.INVALID_ARGUMENT);
  });
});
