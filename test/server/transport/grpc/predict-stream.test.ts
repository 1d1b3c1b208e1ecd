/** PredictStream over real gRPC: order, per-frame errors, backpressure, and the "latest" live-video policy. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metadata as GrpcMetadata, status } from '@grpc/grpc-js';
import { PixelFormat, type ModelServiceClient, type PredictRequest, type PredictResponse } from '../../../../src/gen/modelhub/v1/model_service.js';
import { png, rgbPixels } from '../../../support/images.js';
import { modelClient, startTestServer, waitFor, type TestServer } from '../../../support/server.js';

let server: TestServer;
let client: ModelServiceClient;
const pixels = rgbPixels(299, 299);
const frame = (id: string): PredictRequest => ({
  id, topK: 1, input: { $case: 'raw', value: { width: 299, height: 299, format: PixelFormat.PIXEL_FORMAT_RGB8, data: pixels } },
});

function openStream(headers: Record<string, string> = {}) {
  const metadata = new GrpcMetadata();
  for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
  const call = client.predictStream(metadata);
  const responses: PredictResponse[] = [];
  let ended = false;
  let error: Error | undefined;
  call.on('data', (r: PredictResponse) => responses.push(r));
  call.on('end', () => { ended = true; });
  call.on('error', (e) => { error = e; });
  return { call, responses, get ended() { return ended; }, get error() { return error; } };
}

beforeAll(async () => {
  server = await startTestServer(['--stream-max-in-flight', '4', '--threads', '2']);
  client = modelClient(server.address);
});

afterAll(async () => {
  client?.close();
  await server?.shutdown(1000);
});

describe('PredictStream', () => {
  it('answers every frame once, in request order, echoing ids', async () => {
    const stream = openStream();
    const ids = Array.from({ length: 12 }, (_, i) => `frame-${i}`);
    for (const id of ids) stream.call.write(frame(id));
    stream.call.end();
    await waitFor(() => stream.ended || stream.error, 30_000, 'stream end');
    expect(stream.error).toBeUndefined();
    expect(stream.responses.map((r) => r.id)).toEqual(ids);
    for (const r of stream.responses) expect(r.outputs[0]!.prediction).toHaveLength(1);
  });

  it('answers a corrupt frame with an error and goes on with the next ones', async () => {
    const stream = openStream();
    stream.call.write(frame('good-1'));
    stream.call.write({ id: 'corrupt', topK: 0, input: { $case: 'image', value: (await png(100, 100)).subarray(0, 120) } });
    stream.call.write({ id: 'short', topK: 0, input: { $case: 'raw', value: { width: 50, height: 50, format: PixelFormat.PIXEL_FORMAT_RGB8, data: Buffer.alloc(10) } } });
    stream.call.write(frame('good-2'));
    stream.call.end();
    await waitFor(() => stream.ended || stream.error, 30_000, 'stream end');
    expect(stream.error).toBeUndefined();
    expect(stream.responses.map((r) => r.id)).toEqual(['good-1', 'corrupt', 'short', 'good-2']);
    expect(stream.responses[1]!.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(stream.responses[1]!.outputs).toEqual([]);
    expect(stream.responses[2]!.error).toMatchObject({ code: status.INVALID_ARGUMENT, message: expect.stringMatching(/7500/) });
    expect(stream.responses[3]!.error).toBeUndefined();
    expect(stream.responses[3]!.outputs[0]!.prediction).toHaveLength(1);
  });

  it('with the "latest" policy, drops stale frames with ABORTED and keeps answering the newest', async () => {
    const stream = openStream({ 'x-stream-policy': 'latest' });
    const ids = Array.from({ length: 30 }, (_, i) => `live-${i}`);
    for (const id of ids) stream.call.write(frame(id)); // far faster than inference: most frames go stale
    stream.call.end();
    await waitFor(() => stream.ended || stream.error, 60_000, 'stream end');
    expect(stream.error).toBeUndefined();
    expect(stream.responses.map((r) => r.id)).toEqual(ids); // one answer per frame, in order
    const dropped = stream.responses.filter((r) => r.error?.code === status.ABORTED);
    const served = stream.responses.filter((r) => !r.error);
    expect(dropped.length).toBeGreaterThan(0);
    expect(dropped[0]!.error!.message).toMatch(/dropped/);
    expect(served.length).toBeGreaterThan(0);
    expect(served.at(-1)!.id).toBe('live-29'); // the newest frame is never dropped
    const droppedMetric = (await server.metrics.droppedFrames.get()).values[0]?.value ?? 0;
    expect(droppedMetric).toBeGreaterThanOrEqual(dropped.length);
  });

  it('refuses an unknown policy with INVALID_ARGUMENT', async () => {
    const stream = openStream({ 'x-stream-policy': 'sometimes' });
    stream.call.end();
    await waitFor(() => stream.error, 10_000, 'refusal');
    expect((stream.error as any).code).toBe(status.INVALID_ARGUMENT);
  });
});
