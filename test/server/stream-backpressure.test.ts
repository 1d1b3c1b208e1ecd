/**
 * Backpressure, on the server as its own process: a client that writes large frames as fast as the connection takes
 * them and stops reading its answers. The server's own count of frames read and not yet answered
 * (xception_stream_frames_in_flight, polled) must never pass the stream's limit; once the client's buffers are full
 * the server must stop reading, and a "latest" stream's backlog of answers must not keep its frames in memory.
 *
 * Frames that fail validation (raw data one byte short) are answered at once without the engine, so only the client's
 * reading paces those streams; 16 KiB ids (echoed in every answer) fill the client's buffers after a few dozen answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { once } from 'node:events';
import {
  ModelServiceClient,
  PixelFormat,
  type PredictRequest,
  type PredictResponse,
} from '../../src/gen/modelhub/v1/model_service.js';
import { LATEST_BACKLOG } from '../../src/server/core/frame-stream.js';
import { rgbPixels } from '../support/images.js';
import { scrape, watchMax } from '../support/metrics.js';
import { waitFor } from '../support/poll.js';
import { startServerProcess, type ServerProcess } from '../support/subprocess.js';

const MiB = 1024 * 1024;
const SERVER_MAX_IN_FLIGHT = 4;
const LONG_ID = ':'.padEnd(16 * 1024, '-');

let proc: ServerProcess;
let metricsUrl: string;
let client: ModelServiceClient;

beforeAll(async () => {
  // One engine thread leaves the other core to reading frames: "latest" reads hundreds of them while the engine runs.
  proc = await startServerProcess([
    '--threads',
    '1',
    '--stream-max-in-flight',
    String(SERVER_MAX_IN_FLIGHT),
    '--metrics-port',
    '0',
  ]);
  const metricsPort = proc.logs.find((entry) => String(entry.msg).startsWith('metrics on'))!.port as number;
  metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  client = new ModelServiceClient(proc.address, credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  proc?.child.kill('SIGTERM');
  await proc?.exited;
});

interface Pixels {
  readonly width: number;
  readonly height: number;
  readonly data: Buffer;
}
const pixels = (width: number, height: number): Pixels => ({ width, height, data: rgbPixels(width, height) });
const VGA = pixels(640, 480); // 900 KiB
const QVGA = pixels(320, 240);
const TINY = pixels(32, 32);

/** A raw RGB frame; `valid: false` sends one byte too few (INVALID_ARGUMENT, no engine run). */
function frame(id: string, { width, height, data }: Pixels, valid = true): PredictRequest {
  return {
    id,
    topK: 1,
    input: {
      $case: 'raw',
      value: { width, height, format: PixelFormat.PIXEL_FORMAT_RGB8, data: valid ? data : data.subarray(1) },
    },
  };
}

const shortId = (response: PredictResponse) => response.id.split(':')[0];

/** The server's stream counts, read at one moment. */
async function streamCounts() {
  const value = await scrape(metricsUrl);
  return {
    streams: value('xception_active_streams'),
    /** Frames read and not yet answered. */
    inFlight: value('xception_stream_frames_in_flight'),
    /** Frames being prepared, queued or run. */
    working: value('xception_stream_frames_working'),
    /** Frames answered so far, every outcome. */
    answered: ['ok', 'error', 'dropped'].reduce(
      (sum, outcome) => sum + value('xception_stream_frames_total', { outcome }),
      0,
    ),
  };
}
const framesInFlight = async () => (await streamCounts()).inFlight;

/**
 * A PredictStream whose client reads one batch of answers into its buffer and then stops reading (paused), fed
 * `frames` in the background, each as soon as the client's write buffer has room: the client sends exactly as fast as
 * the server reads. (A call never read at all would not do: grpc-js then buffers every answer without limit.)
 */
function unreadStream(frames: PredictRequest[], headers: Record<string, string> = {}) {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
  const call = client.predictStream(metadata);
  const received: PredictResponse[] = [];
  let error: ServiceError | undefined;
  let ended = false;
  call.on('error', (e: ServiceError) => {
    error = e;
  });
  call.on('end', () => {
    ended = true;
  });
  call.on('data', (response: PredictResponse) => received.push(response));
  call.pause();
  const stop = new AbortController();
  const written = (async () => {
    for (const request of frames) {
      if (stop.signal.aborted) return;
      if (!call.write(request)) await once(call, 'drain', { signal: stop.signal }).catch(() => {});
    }
  })();
  return {
    call,
    received,
    /** Resolves once every frame is written (or the stream was cancelled). */
    written,
    get error() {
      return error;
    },
    get ended() {
      return ended;
    },
    /** Cancels the call, and waits for the server to count it closed and its frames gone. */
    async cancel() {
      stop.abort();
      call.cancel();
      await waitFor(() => error, 10_000, 'the cancellation');
      expect(error!.code).toBe(status.CANCELLED);
      await streamGone();
    },
  };
}

async function streamGone(): Promise<void> {
  await waitFor(
    async () => {
      const { streams, inFlight, working } = await streamCounts();
      return streams === 0 && inFlight === 0 && working === 0;
    },
    10_000,
    'the stream and its frames to be gone',
  );
}

/**
 * Waits until the server holds `limit` frames, all answered, waiting for the client to read: it has stopped reading.
 * Fails at once when the frames in flight pass the limit, or when the server has read every frame `sent`.
 */
async function stuckAt(limit: number, inFlight: { readonly max: number }, sent: number): Promise<void> {
  const answeredBefore = (await streamCounts()).answered;
  await waitFor(
    async () => {
      if (inFlight.max > limit) throw new Error(`${inFlight.max} frames in flight, over the limit of ${limit}`);
      const now = await streamCounts();
      if (now.answered - answeredBefore >= sent)
        throw new Error(`the server read all ${sent} frames without waiting for the client`);
      return now.inFlight === limit && now.working === 0;
    },
    60_000,
    `${limit} frames in flight, none at work`,
  );
}

describe('PredictStream backpressure', () => {
  it('stops reading at --stream-max-in-flight frames while the client does not read; then answers all, in order', async () => {
    const count = 200;
    const frames = Array.from({ length: count - 1 }, (_, i) => frame(`bp-${i}${LONG_ID}`, QVGA, false));
    frames.push(frame(`bp-${count - 1}`, TINY));
    const answeredBefore = (await streamCounts()).answered;
    const inFlight = watchMax(framesInFlight);
    const stream = unreadStream(frames);
    try {
      await stuckAt(SERVER_MAX_IN_FLIGHT, inFlight, count);
      // Frames read = answered + in flight: the server took a part of what the client offered, and waits.
      expect((await streamCounts()).answered - answeredBefore + SERVER_MAX_IN_FLIGHT).toBeLessThan(count / 2);

      stream.call.resume();
      await stream.written;
      stream.call.end();
      await waitFor(() => stream.ended || stream.error, 60_000, 'the stream to end');
      expect(stream.error).toBeUndefined();
      expect(stream.received.map(shortId)).toEqual(Array.from({ length: count }, (_, i) => `bp-${i}`));
      for (const response of stream.received.slice(0, -1)) {
        expect(response.error).toMatchObject({
          code: status.INVALID_ARGUMENT,
          message: expect.stringMatching(/230399 bytes/),
        });
      }
      expect(stream.received.at(-1)!.outputs[0]!.prediction).toHaveLength(1);
      expect(await inFlight.stop()).toBe(SERVER_MAX_IN_FLIGHT);
      await streamGone();
    } finally {
      await inFlight.stop();
      stream.call.cancel();
    }
  }, 120_000);

  it.each([
    ['2', 2],
    ['100', SERVER_MAX_IN_FLIGHT], // a call may lower the server's limit, never raise it
  ])(
    'takes "x-max-in-flight: %s" as a limit of %i frames for that call',
    async (header, limit) => {
      const frames = Array.from({ length: 120 }, (_, i) => frame(`h-${i}${LONG_ID}`, TINY, false));
      const inFlight = watchMax(framesInFlight);
      const stream = unreadStream(frames, { 'x-max-in-flight': header });
      try {
        await stuckAt(limit, inFlight, frames.length);
        expect(await inFlight.stop()).toBe(limit);
      } finally {
        await inFlight.stop();
        await stream.cancel();
      }
    },
    120_000,
  );

  it('"latest": reads ahead up to its backlog of answers, one frame in the engine and one prepared, without keeping the skipped frames', async () => {
    const frames = Array.from({ length: LATEST_BACKLOG + 100 }, (_, i) => frame(`live-${i}${LONG_ID}`, VGA));
    const rssBefore = proc.rss();
    const inFlight = watchMax(framesInFlight);
    const working = watchMax(async () => (await streamCounts()).working);
    const stream = unreadStream(frames, { 'x-stream-policy': 'latest' });
    try {
      await stuckAt(LATEST_BACKLOG, inFlight, frames.length);
      // The backlog is answers, mostly dropped frames': their 900 KiB frames (225 MiB of them) must be let go.
      expect(proc.rss() - rssBefore).toBeLessThan(150 * MiB);
      expect(await inFlight.stop()).toBe(LATEST_BACKLOG);
      expect(await working.stop()).toBe(2);
    } finally {
      await Promise.all([inFlight.stop(), working.stop()]);
      await stream.cancel();
    }
  }, 120_000);
});
