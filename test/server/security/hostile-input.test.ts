/**
 * Hostile input. Each bad request ends in a clear INVALID_ARGUMENT or RESOURCE_EXHAUSTED (never UNKNOWN or INTERNAL,
 * never a crash), and the server is still SERVING and answering afterwards. The heavy parts (a 10 000-frame stream,
 * a client that never reads, decompression bombs within the pixel limit) run against the server as its own process,
 * whose resident memory is sampled throughout and must stay bounded.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import sharp from 'sharp';
import {
  ModelServiceClient,
  PixelFormat,
  type PredictRequest,
  type PredictResponse,
} from '../../../src/gen/modelhub/v1/model_service.js';
import { healthClient, settled, unary } from '../../support/grpc.js';
import { gif, jpeg, png, pngDeclaring, rgbPixels, tiff, webp } from '../../support/images.js';
import { metricValue } from '../../support/metrics.js';
import { openStream, runStream } from '../../support/stream.js';
import { waitFor } from '../../support/poll.js';
import { modelClient, startTestServer, type TestServer } from '../../support/server.js';
import { startServerProcess, type ServerProcess } from '../../support/subprocess.js';

const MiB = 1024 * 1024;

// ---- inputs -------------------------------------------------------------------------------------------------------

function encoded(bytes: Buffer, id = 'hostile'): PredictRequest {
  return { id, topK: 1, input: { $case: 'image', value: bytes } };
}

function raw(
  width: number,
  height: number,
  data: Buffer,
  format = PixelFormat.PIXEL_FORMAT_RGB8,
  id = 'hostile',
): PredictRequest {
  return { id, topK: 1, input: { $case: 'raw', value: { width, height, format, data } } };
}

const validFrame = (id: string, topK = 1): PredictRequest => ({ ...raw(32, 32, rgbPixels(32, 32)), id, topK });

/** xorshift bytes: noise that no format signature matches. */
function randomBytes(length: number, seed = 99): Buffer {
  const bytes = Buffer.alloc(length);
  let state = seed;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    bytes[i] = state & 255;
  }
  return bytes;
}

const SVG =
  '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000">' +
  '<image href="file:///etc/passwd"/><rect width="100%" height="100%"/></svg>';

/** [name, request, code, message] — each must be refused with exactly that code and a message that says why. */
async function hostileCases(): Promise<[string, PredictRequest, status, RegExp][]> {
  const fullJpeg = await jpeg(200, 150);
  const fullPng = await png(200, 150);
  return [
    ['empty bytes', encoded(Buffer.alloc(0)), status.INVALID_ARGUMENT, /image is empty/],
    ['no input at all', { id: 'none', topK: 1, input: undefined }, status.INVALID_ARGUMENT, /no input/],
    ['random bytes', encoded(randomBytes(20_000)), status.INVALID_ARGUMENT, /unrecognised image format/],
    [
      'a truncated JPEG',
      encoded(fullJpeg.subarray(0, fullJpeg.length >> 1)),
      status.INVALID_ARGUMENT,
      /could not decode JPEG/,
    ],
    [
      'a JPEG cut inside its header',
      encoded(fullJpeg.subarray(0, 20)),
      status.INVALID_ARGUMENT,
      /could not decode JPEG/,
    ],
    [
      'a truncated PNG',
      encoded(fullPng.subarray(0, fullPng.length >> 1)),
      status.INVALID_ARGUMENT,
      /could not decode PNG/,
    ],
    ['a PNG cut inside its header', encoded(fullPng.subarray(0, 30)), status.INVALID_ARGUMENT, /could not decode PNG/],
    [
      'a PNG declaring 100000×100000 pixels',
      encoded(pngDeclaring(100_000, 100_000)),
      status.INVALID_ARGUMENT,
      /100000×100000 = 10000000000 pixels, over the limit/,
    ],
    [
      'a PNG declaring 2^31−1 × 2^31−1 pixels',
      encoded(pngDeclaring(2 ** 31 - 1, 2 ** 31 - 1)),
      status.INVALID_ARGUMENT,
      /PNG/,
    ],
    [
      'a PNG whose data does not match its header',
      encoded(pngDeclaring(64, 64)),
      status.INVALID_ARGUMENT,
      /could not decode PNG/,
    ],
    ['a 1×1 image', encoded(await png(1, 1)), status.INVALID_ARGUMENT, /below the minimum of 32/],
    ['a 31×31 image', encoded(await jpeg(31, 31)), status.INVALID_ARGUMENT, /below the minimum of 32/],
    ['an SVG (never rendered)', encoded(Buffer.from(SVG)), status.INVALID_ARGUMENT, /unsupported image format SVG/],
    [
      'an SVG with a byte-order mark and leading space',
      encoded(Buffer.from(`\uFEFF \n${SVG}`)),
      status.INVALID_ARGUMENT,
      /unsupported image format SVG/,
    ],
    ['a GIF', encoded(await gif(64, 64)), status.INVALID_ARGUMENT, /unsupported image format GIF/],
    ['a TIFF', encoded(await tiff(64, 64)), status.INVALID_ARGUMENT, /unsupported image format TIFF/],
    ['a WebP', encoded(await webp(64, 64)), status.INVALID_ARGUMENT, /unsupported image format WEBP/],
    [
      'a raw frame with a wrong data length',
      raw(32, 32, Buffer.alloc(100)),
      status.INVALID_ARGUMENT,
      /100 bytes; expected 32×32×3 = 3072/,
    ],
    ['a raw frame of zero width', raw(0, 32, Buffer.alloc(0)), status.INVALID_ARGUMENT, /positive integers; got 0×32/],
    [
      'a raw frame declaring 100000×100000',
      raw(100_000, 100_000, Buffer.alloc(16)),
      status.INVALID_ARGUMENT,
      /over the limit/,
    ],
    [
      'a raw frame without a pixel format',
      raw(32, 32, Buffer.alloc(3072), PixelFormat.PIXEL_FORMAT_UNSPECIFIED),
      status.INVALID_ARGUMENT,
      /unsupported raw pixel format/,
    ],
    [
      'a raw frame with an unknown pixel format number',
      raw(32, 32, Buffer.alloc(3072), 77 as PixelFormat),
      status.INVALID_ARGUMENT,
      /unsupported raw pixel format/,
    ],
  ];
}

// ---- calls --------------------------------------------------------------------------------------------------------

type Answer = PredictResponse | ServiceError;

function predict(client: ModelServiceClient, request: PredictRequest): Promise<Answer> {
  return settled<PredictRequest, PredictResponse>(client.predict.bind(client), request);
}

function isError(answer: Answer): answer is ServiceError {
  return answer instanceof Error;
}

async function expectServing(address: string, client: ModelServiceClient): Promise<void> {
  const health = healthClient(address);
  try {
    expect(await unary<object, { status: string }>(health.Check.bind(health), { service: '' })).toEqual({
      status: 'SERVING',
    });
  } finally {
    health.close();
  }
  const answer = await predict(client, validFrame('after'));
  expect(isError(answer) ? answer.message : answer.outputs[0]!.prediction.length).toBe(1);
}

// ---- one server, every bad input ----------------------------------------------------------------------------------

describe('hostile requests against one server', () => {
  const MAX_MESSAGE = 1 * MiB;
  const MAX_STREAMS = 3;
  let server: TestServer;
  let client: ModelServiceClient;
  let cases: Awaited<ReturnType<typeof hostileCases>>;

  beforeAll(async () => {
    [server, cases] = await Promise.all([
      startTestServer([
        '--threads',
        '2',
        '--max-message-bytes',
        String(MAX_MESSAGE),
        '--max-streams',
        String(MAX_STREAMS),
      ]),
      hostileCases(),
    ]);
    client = modelClient(server.address);
  });

  afterEach(async () => {
    await expectServing(server.address, client);
  });

  afterAll(async () => {
    client?.close();
    await server?.shutdown(1000);
  });

  it('refuses each bad input with INVALID_ARGUMENT and a message that says why', async () => {
    for (const [name, request, code, message] of cases) {
      const answer = await predict(client, request);
      expect(isError(answer), name).toBe(true);
      expect({ name, code: (answer as ServiceError).code }).toEqual({ name, code });
      expect((answer as ServiceError).details, name).toMatch(message);
    }
  });

  it('answers the same inputs as stream frames one by one, in order, and goes on', async () => {
    const frames = [
      validFrame('first'),
      ...cases.map(([name, request]) => ({ ...request, id: name })),
      validFrame('last'),
    ];
    const result = await runStream(client, frames);
    expect(result.error).toBeUndefined();
    expect(result.responses.map((r) => r.id)).toEqual(frames.map((f) => f.id));
    expect(result.responses[0]!.error).toBeUndefined();
    expect(result.responses.at(-1)!.outputs[0]!.prediction).toHaveLength(1);
    for (const [index, [name, , code, message]] of cases.entries()) {
      expect(result.responses[index + 1]!.error, name).toMatchObject({ code, message: expect.stringMatching(message) });
    }
  });

  it('refuses a message over --max-message-bytes with RESOURCE_EXHAUSTED', async () => {
    const answer = await predict(client, encoded(Buffer.alloc(MAX_MESSAGE + 1)));
    expect(answer).toMatchObject({
      code: status.RESOURCE_EXHAUSTED,
      details: expect.stringMatching(/larger than max/),
    });
  });

  it('refuses a gzip-compressed message that inflates past the limit with RESOURCE_EXHAUSTED', async () => {
    // 8 MiB of zeros travel as a few kB; the server must stop inflating at the limit.
    const gzipClient = new ModelServiceClient(server.address, credentials.createInsecure(), {
      'grpc.default_compression_algorithm': 2,
    });
    try {
      const answer = await predict(gzipClient, encoded(Buffer.alloc(8 * MiB)));
      expect(answer).toMatchObject({
        code: status.RESOURCE_EXHAUSTED,
        details: expect.stringMatching(/decompresses to a size larger/),
      });
    } finally {
      gzipClient.close();
    }
  });

  it('refuses a stream past --max-streams with RESOURCE_EXHAUSTED while the others stay open; closing one admits the next', async () => {
    const openStreams = () => metricValue(server.metrics.registry, 'xception_active_streams');
    const held = Array.from({ length: MAX_STREAMS }, () => openStream(client));
    await waitFor(async () => (await openStreams()) === MAX_STREAMS, 10_000, `${MAX_STREAMS} streams open`);

    const refused = openStream(client);
    await waitFor(() => refused.error, 10_000, 'the refusal');
    expect(refused.error).toMatchObject({
      code: status.RESOURCE_EXHAUSTED,
      details: expect.stringMatching(new RegExp(`streams \\(limit ${MAX_STREAMS}\\).*retry later`)),
    });
    expect(refused.responses).toEqual([]);

    // The streams held open were not disturbed: each still answers.
    held.forEach((stream, i) => stream.call.write(validFrame(`held-${i}`)));
    await waitFor(
      () => held.every((stream) => stream.responses.length === 1),
      30_000,
      'an answer on every held stream',
    );
    expect(held.map((stream) => stream.responses[0]!.id)).toEqual(held.map((_, i) => `held-${i}`));
    expect(await openStreams()).toBe(MAX_STREAMS);

    held[0]!.call.end();
    await waitFor(async () => (await openStreams()) === MAX_STREAMS - 1, 10_000, 'one stream closed');
    const admitted = openStream(client);
    admitted.call.write(validFrame('admitted'));
    admitted.call.end();
    await waitFor(() => admitted.ended || admitted.error, 30_000, 'the admitted stream to end');
    expect(admitted.error).toBeUndefined();
    expect(admitted.responses.map((r) => [r.id, r.outputs[0]?.prediction.length])).toEqual([['admitted', 1]]);

    for (const stream of held.slice(1)) stream.call.end();
    await waitFor(async () => (await openStreams()) === 0, 10_000, 'every stream closed');
    expect(held.map((stream) => stream.error)).toEqual(held.map(() => undefined));
  });

  it('takes an absurd top_k (4 000 000 000) as "all": 1000 classes, no error', async () => {
    const answer = await predict(client, validFrame('all', 4_000_000_000));
    expect(isError(answer)).toBe(false);
    const prediction = (answer as PredictResponse).outputs[0]!.prediction;
    expect(prediction).toHaveLength(1000);
    expect(new Set(prediction.map((p) => p.index)).size).toBe(1000);
  });
});

// ---- heavy load against the server process, with its memory watched -----------------------------------------------

describe('heavy load against the server process', () => {
  let proc: ServerProcess;
  let client: ModelServiceClient;
  let metricsUrl: string;
  let rssServing = 0;
  let rssPeak = 0;
  let sampler: NodeJS.Timeout | undefined;
  let stderr = '';

  beforeAll(async () => {
    proc = await startServerProcess(['--threads', '2', '--max-queue', '8', '--metrics-port', '0']);
    proc.child.stderr!.on('data', (chunk) => {
      stderr += chunk;
    });
    const metricsPort = proc.logs.find((entry) => String(entry.msg).startsWith('metrics on'))!.port as number;
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    client = new ModelServiceClient(proc.address, credentials.createInsecure());
    // Serving memory once warm: one real request first.
    await expectServing(proc.address, client);
    rssServing = proc.rss();
    rssPeak = rssServing;
    sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, proc.rss());
    }, 20);
  });

  afterAll(async () => {
    if (sampler) clearInterval(sampler);
    client?.close();
    proc?.child.kill('SIGTERM');
    await proc?.exited;
  });

  afterEach(async () => {
    rssPeak = Math.max(rssPeak, proc.rss());
    await expectServing(proc.address, client);
  });

  it('answers a 10 000-frame stream sent as fast as possible: one answer per frame, in order ("latest" policy)', async () => {
    const data = rgbPixels(32, 32);
    const frames = Array.from({ length: 10_000 }, (_, i) => ({ ...raw(32, 32, data), id: `f${i}` }));
    const result = await runStream(client, frames, { 'x-stream-policy': 'latest' });
    expect(result.error).toBeUndefined();
    expect(result.responses).toHaveLength(frames.length);
    expect(result.responses.every((r, i) => r.id === `f${i}`)).toBe(true);
    const codes = new Set(result.responses.map((r) => r.error?.code ?? status.OK));
    expect([...codes].every((code) => code === status.OK || code === status.ABORTED)).toBe(true);
    expect(result.responses.at(-1)!.error).toBeUndefined(); // the newest frame is never dropped
  }, 90_000);

  it('stays responsive to others while a client writes frames and never reads', async () => {
    const answeredBefore = await streamFramesAnswered();
    const call = client.predictStream();
    let callError: ServiceError | undefined;
    call.on('error', (error: ServiceError) => {
      callError = error;
    });
    call.pause();
    // Answers of 1000 labels each: the client's flow-control window fills after a few, and the server stops there.
    for (let i = 0; i < 200; i++) call.write(validFrame(`stuck-${i}`, 4_000_000_000));
    await waitFor(
      async () => (await streamFramesAnswered()) >= answeredBefore + 2,
      30_000,
      'the stuck stream to be answered',
    );
    try {
      const other = new ModelServiceClient(proc.address, credentials.createInsecure());
      try {
        await expectServing(proc.address, other);
      } finally {
        other.close();
      }
    } finally {
      call.cancel();
    }
    await waitFor(() => callError, 10_000, 'the cancellation');
    expect(callError!.code).toBe(status.CANCELLED);
    await waitFor(async () => (await metric('xception_active_streams')) === 0, 10_000, 'the stuck stream to be closed');
  }, 60_000);

  it('decodes decompression bombs within the pixel limit (36 MP, 100 kB) without blowing up memory', async () => {
    const bomb = await sharp({ create: { width: 6000, height: 6000, channels: 3, background: { r: 0, g: 0, b: 0 } } })
      .png({ compressionLevel: 9 })
      .toBuffer();
    expect(bomb.length).toBeLessThan(200_000);
    const answers = await Promise.all(Array.from({ length: 6 }, () => predict(client, encoded(bomb))));
    for (const answer of answers) {
      if (isError(answer)) expect(answer.code).toBe(status.RESOURCE_EXHAUSTED);
      else expect(answer.outputs[0]!.prediction).toHaveLength(1);
    }
    expect(answers.some((answer) => !isError(answer))).toBe(true);
  }, 60_000);

  it('logged no internal error and no warning on stderr (e.g. listener leaks) through all of it', () => {
    const faults = proc.logs.filter(
      (entry) => entry.level >= 50 || entry.code === 'INTERNAL' || entry.code === 'UNKNOWN',
    );
    expect(faults).toEqual([]);
    expect(stderr).toBe('');
  });

  it('kept its memory bounded through all of it', () => {
    rssPeak = Math.max(rssPeak, proc.rss());
    expect(rssServing).toBeLessThan(1.5 * 1024 * MiB);
    expect(rssPeak).toBeLessThan(1.5 * 1024 * MiB);
    expect(rssPeak - rssServing).toBeLessThan(300 * MiB);
    console.info(`server RSS serving ${(rssServing / MiB).toFixed(0)} MiB, peak ${(rssPeak / MiB).toFixed(0)} MiB`);
  });

  async function metric(name: string, labels = ''): Promise<number> {
    const text = await (await fetch(metricsUrl)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || l.startsWith(`${name}${labels}{`));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  }

  async function streamFramesAnswered(): Promise<number> {
    return metric('xception_stream_frames_total', '{outcome="ok"}');
  }
});
