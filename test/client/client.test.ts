/** The typed client against a real server: every method, deadlines, cancellation, errors, and streams. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Code, createModelClient, type Frame, type FrameResult, type ModelClient } from '../../src/client/index.js';
import { convertRgb, png, rgbPixels } from '../support/images.js';
import { waitFor } from '../support/poll.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { failure } from '../support/client.js';
import { engineRuns } from '../support/engine-runs.js';
import { metricValue, watchMax } from '../support/metrics.js';

let server: TestServer;
let client: ModelClient;
let image: Buffer;
const pixels = rgbPixels(299, 299);

beforeAll(async () => {
  server = await startTestServer(['--instance-id', 'client-test', '--threads', '2', '--stream-max-in-flight', '4']);
  client = createModelClient(server.address);
  image = await png(120, 90);
});

afterAll(async () => {
  client?.close();
  await server?.shutdown(1000);
});

async function collect(results: AsyncIterable<FrameResult>): Promise<FrameResult[]> {
  const all: FrameResult[] = [];
  for await (const result of results) all.push(result);
  return all;
}

/** Sum of the server's answered stream frames (all outcomes). */
async function framesAnswered(): Promise<number> {
  const metric = await server.metrics.streamFrames.get();
  return metric.values.reduce((sum, v) => sum + v.value, 0);
}

describe('getMetadata', () => {
  it('describes the model and the replica', async () => {
    const metadata = await client.getMetadata();
    expect(metadata.name).toBe('xception');
    expect(metadata.labels).toHaveLength(1000);
    expect(metadata.inputFormats).toContain('image/png');
    expect(metadata.runtime).toMatchObject({ instance: 'client-test', engine: 'onnx', pretrained: false });
  });
});

describe('predict', () => {
  it('classifies an encoded image: top-k labels, most probable first, with the id, timing, model and instance', async () => {
    const result = await client.predict(image, { topK: 3, id: 'png-1' });
    expect(result.id).toBe('png-1');
    expect(result.labels).toHaveLength(3);
    const probabilities = result.labels.map((l) => l.probability);
    expect([...probabilities].sort((a, b) => b - a)).toEqual(probabilities);
    for (const label of result.labels) {
      expect(label.label).toEqual(expect.any(String));
      expect(label.index).toBeGreaterThanOrEqual(0);
      expect(label.index).toBeLessThan(1000);
    }
    expect(result.processingTime).toBeGreaterThan(0);
    expect(result.timestamp).toBeInstanceOf(Date);
    expect(result.model).toEqual({
      id: expect.any(String),
      name: 'xception',
      weightsSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(result.instance).toBe('client-test');
  });

  it('classifies raw pixels; the same picture in another channel order gives the same answer', async () => {
    const rgb = await client.predict({ width: 299, height: 299, format: 'RGB8', data: pixels }, { topK: 2 });
    const bgr = await client.predict(
      { width: 299, height: 299, format: 'BGR8', data: new Uint8Array(convertRgb(pixels, 'BGR8')) },
      { topK: 2 },
    );
    expect(rgb.labels).toHaveLength(2);
    expect(bgr.labels.map((l) => l.index)).toEqual(rgb.labels.map((l) => l.index));
    expect(bgr.labels[0]!.probability).toBeCloseTo(rgb.labels[0]!.probability, 5);
    expect(rgb.id).toMatch(/^[0-9a-f-]{36}$/); // a generated UUID when the caller gives none
  });

  it('fails with ModelError INVALID_ARGUMENT for an image the server cannot decode', async () => {
    const error = await failure(client.predict(image.subarray(0, 100)));
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe(Code.INVALID_ARGUMENT);
    expect(error.codeName).toBe('INVALID_ARGUMENT');
    expect(error.details.length).toBeGreaterThan(0);
    expect(error.message).toBe(`INVALID_ARGUMENT: ${error.details}`);
  });

  it('refuses an unknown pixel format or a bad topK before sending anything', async () => {
    const badFormat = await failure(
      client.predict({ width: 2, height: 2, format: 'CMYK' as 'RGB8', data: new Uint8Array(16) }),
    );
    expect(badFormat).toMatchObject({ code: Code.INVALID_ARGUMENT, details: expect.stringMatching(/CMYK/) });
    const badTopK = await failure(client.predict(image, { topK: -1 }));
    expect(badTopK.code).toBe(Code.INVALID_ARGUMENT);
  });

  it('fails with DEADLINE_EXCEEDED past its deadline: per call (ms or Date) and the client default', async () => {
    expect((await failure(client.predict(image, { deadline: 1 }))).code).toBe(Code.DEADLINE_EXCEEDED);
    expect((await failure(client.predict(image, { deadline: new Date(Date.now() + 1) }))).code).toBe(
      Code.DEADLINE_EXCEEDED,
    );
    const hurried = createModelClient(server.address, { deadlineMs: 1 });
    try {
      const error = await failure(hurried.predict(image));
      expect(error.codeName).toBe('DEADLINE_EXCEEDED');
    } finally {
      hurried.close();
    }
  });

  it('is cancelled by its AbortSignal (CANCELLED), also when the signal has already fired', async () => {
    const controller = new AbortController();
    const pending = client.predict(image, { signal: controller.signal });
    controller.abort();
    expect((await failure(pending)).code).toBe(Code.CANCELLED);
    expect((await failure(client.predict(image, { signal: AbortSignal.abort() }))).code).toBe(Code.CANCELLED);
  });
});

describe('health', () => {
  it('reports SERVING for the server and the model service; an unknown service is NOT_FOUND', async () => {
    expect(await client.health()).toBe('SERVING');
    expect(await client.health('modelhub.v1.ModelService')).toBe('SERVING');
    expect((await failure(client.health('no.such.Service'))).code).toBe(Code.NOT_FOUND);
  });
});

describe('predictStream', () => {
  it('answers every frame in order; a bad frame gets an error result and the stream goes on', async () => {
    const raw = { width: 299, height: 299, format: 'RGB8' as const, data: pixels };
    const frames: Frame[] = [image, { id: 'mine', image: raw }, image.subarray(0, 100), raw, image];
    const results = await collect(client.predictStream(frames, { topK: 2 }));
    expect(results.map((r) => r.id)).toEqual(['0', 'mine', '2', '3', '4']);
    const [first, , broken, fourth] = results;
    expect(broken!.error).toMatchObject({
      code: Code.INVALID_ARGUMENT,
      codeName: 'INVALID_ARGUMENT',
      message: expect.any(String),
    });
    if (first!.error || fourth!.error) throw new Error('frames 0 and 3 should have succeeded');
    expect(first!.labels).toHaveLength(2);
    expect(fourth!.instance).toBe('client-test');
    expect(results.filter((r) => r.error)).toHaveLength(1);
  });

  it('pulls frames no further than maxInFlight ahead of what the consumer has taken', async () => {
    let pulls = 0;
    async function* camera(): AsyncGenerator<Frame> {
      for (let i = 0; i < 6; i++) {
        pulls++;
        yield image;
      }
    }
    const before = await framesAnswered();
    const stream = client.predictStream(camera(), { maxInFlight: 2, topK: 1 });
    const first = await stream.next();
    expect(first.value?.id).toBe('0');
    // The consumer holds on to result 0 while the server answers every frame it was sent: the answers wait in the
    // client, yet the source is not pulled beyond 1 taken + 2 in flight.
    await waitFor(async () => (await framesAnswered()) - before >= 3, 30_000, 'three frames answered');
    expect(pulls).toBe(3);
    const rest: FrameResult[] = [];
    for await (const result of stream) rest.push(result);
    expect(rest.map((r) => r.id)).toEqual(['1', '2', '3', '4', '5']);
    expect(pulls).toBe(6);
  });

  it('passes the "latest" policy: one frame at work, stale frames ABORTED with no engine run, all in order', async () => {
    const ids = Array.from({ length: 8 }, (_, i) => `live-${i}`);
    const results: FrameResult[] = [];
    let allAnswered!: () => void;
    const answered = new Promise<void>((resolve) => {
      allAnswered = resolve;
    });
    // The source ends only once every frame is answered: a dropped frame's result must wait for no newer frame and
    // for no end of the stream.
    async function* camera(): AsyncGenerator<Frame> {
      for (const id of ids) yield { id, image };
      await answered;
    }
    const runsBefore = await engineRuns(server);
    const working = watchMax(() => metricValue(server.metrics.registry, 'xception_stream_frames_working'));
    // The deadline turns a hang (a result that never comes) into a DEADLINE_EXCEEDED failure.
    for await (const result of client.predictStream(camera(), {
      policy: 'latest',
      maxInFlight: 4,
      topK: 1,
      deadline: 30_000,
    })) {
      results.push(result);
      if (results.length === ids.length) allAnswered();
    }
    expect(results.map((r) => r.id)).toEqual(ids);
    const served = results.filter((r) => !r.error);
    // One frame in the engine and the next one prepared behind it, never more.
    expect(await working.stop()).toBe(2);
    expect((await engineRuns(server)) - runsBefore).toBe(served.length);
    expect(results.filter((r) => r.error).map((r) => r.error!.codeName)).toEqual(
      results.filter((r) => r.error).map(() => 'ABORTED'),
    );
    expect(served.length).toBeLessThan(ids.length);
    expect(results.at(-1)!.error).toBeUndefined();
  });

  it('is cancelled by its AbortSignal: iteration throws CANCELLED and the server closes the stream', async () => {
    const controller = new AbortController();
    async function* endless(): AsyncGenerator<Frame> {
      for (;;) yield image;
    }
    const error = await failure(
      (async () => {
        for await (const result of client.predictStream(endless(), { signal: controller.signal })) {
          if (result.id === '1') controller.abort();
        }
      })(),
    );
    expect(error.code).toBe(Code.CANCELLED);
    await waitFor(
      async () => (await server.metrics.activeStreams.get()).values[0]?.value === 0,
      10_000,
      'stream closed',
    );
  });

  it('ends the call when the consumer breaks out early, and stops pulling frames', async () => {
    let pulls = 0;
    let finished = false;
    async function* endless(): AsyncGenerator<Frame> {
      try {
        for (;;) {
          pulls++;
          yield image;
        }
      } finally {
        finished = true;
      }
    }
    for await (const result of client.predictStream(endless(), { maxInFlight: 2 })) {
      expect(result.id).toBe('0');
      break;
    }
    await waitFor(() => finished, 10_000, 'the source to be closed');
    expect(pulls).toBeLessThanOrEqual(3);
    await waitFor(
      async () => (await server.metrics.activeStreams.get()).values[0]?.value === 0,
      10_000,
      'stream closed',
    );
  });

  it('fails with CANCELLED, carrying the cause, when the frame source throws', async () => {
    const boom = new Error('camera unplugged');
    async function* failing(): AsyncGenerator<Frame> {
      yield image;
      throw boom;
    }
    const error = await failure(collect(client.predictStream(failing())));
    expect(error.code).toBe(Code.CANCELLED);
    expect(error.details).toMatch(/camera unplugged/);
    expect(error.cause).toBe(boom);
  });

  it('refuses bad options as INVALID_ARGUMENT', async () => {
    expect((await failure(collect(client.predictStream([image], { maxInFlight: 0 })))).code).toBe(
      Code.INVALID_ARGUMENT,
    );
    expect((await failure(collect(client.predictStream([image], { policy: 'newest' as 'all' })))).code).toBe(
      Code.INVALID_ARGUMENT,
    );
  });
});

describe('close', () => {
  it('makes later calls fail with FAILED_PRECONDITION', async () => {
    const closing = createModelClient(server.address);
    expect(await closing.health()).toBe('SERVING');
    closing.close();
    expect((await failure(closing.getMetadata())).code).toBe(Code.FAILED_PRECONDITION);
    expect((await failure(collect(closing.predictStream([image])))).code).toBe(Code.FAILED_PRECONDITION);
  });
});
