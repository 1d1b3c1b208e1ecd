/** Predict over real gRPC: happy paths for every input kind, and every caller mistake as INVALID_ARGUMENT. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metadata as GrpcMetadata, status, type ServiceError } from '@grpc/grpc-js';
import sharp from 'sharp';
import {
  PixelFormat,
  type ModelServiceClient,
  type PredictRequest,
  type PredictResponse,
} from '../../../../src/gen/modelhub/v1/model_service.js';
import { convertRgb, gif, jpeg, png, rgbPixels, tiff, webp } from '../../../support/images.js';
import { modelClient, startTestServer, type TestServer } from '../../../support/server.js';
import { waitFor } from '../../../support/poll.js';

let server: TestServer;
let client: ModelServiceClient;
let labels: string[];

function predict(request: Partial<PredictRequest>, metadata = new GrpcMetadata()): Promise<PredictResponse> {
  const full: PredictRequest = { id: '', topK: 0, input: undefined, ...request };
  return new Promise((resolve, reject) =>
    client.predict(full, metadata, (error, response) => (error ? reject(error) : resolve(response))),
  );
}

async function refusal(request: Partial<PredictRequest>): Promise<ServiceError> {
  const error = await predict(request).then(
    () => undefined,
    (e: ServiceError) => e,
  );
  if (!error) throw new Error('expected the call to fail');
  return error;
}

const raw = (width: number, height: number, format: PixelFormat, data: Buffer) => ({
  $case: 'raw' as const,
  value: { width, height, format, data },
});

beforeAll(async () => {
  server = await startTestServer(['--threads', '2']);
  client = modelClient(server.address);
  labels = (await server.ready).metadata().labels;
});

afterAll(async () => {
  client?.close();
  await server?.shutdown(1000);
});

describe('Predict', () => {
  it('classifies a PNG: top 5 label_list sorted by probability, id echoed, ModelHub fields set', async () => {
    const response = await predict({ id: 'req-1', input: { $case: 'image', value: await png(320, 240) } });
    expect(response.id).toBe('req-1');
    expect(response.error).toBeUndefined();
    // The weights that answered: the ones the metadata names.
    const metadata = await new Promise<any>((resolve, reject) =>
      client.getMetadata({}, (error, answer) => (error ? reject(error) : resolve(answer))),
    );
    expect(response.model).toEqual({
      id: 'dbf35840-9c8d-408f-8a36-b9fe2f8e5546',
      name: 'xception',
      weightsSha256: metadata.runtime.weightsSha256,
    });
    expect(response.processingTime).toBeGreaterThan(0);
    expect(response.processingTime).toBeLessThan(10);
    expect(Math.abs(response.timestamp!.getTime() - Date.now())).toBeLessThan(60_000);
    const [output] = response.outputs;
    expect(output).toMatchObject({ name: 'probabilities', type: 'label_list', shape: [1000] });
    expect(output!.prediction).toHaveLength(5);
    const probabilities = output!.prediction.map((p) => p.probability);
    expect(probabilities).toEqual([...probabilities].sort((a, b) => b - a));
    for (const entry of output!.prediction) {
      expect(entry.probability).toBeGreaterThan(0);
      expect(entry.probability).toBeLessThanOrEqual(1);
      expect(entry.label).toBe(labels[entry.index]);
    }
  });

  it('classifies a JPEG and honours top_k, with 0 meaning 5 and ≥ 1000 (even 4e9) meaning all', async () => {
    const image = { $case: 'image' as const, value: await jpeg(400, 300) };
    expect((await predict({ input: image, topK: 3 })).outputs[0]!.prediction).toHaveLength(3);
    const all = (await predict({ input: image, topK: 4_000_000_000 })).outputs[0]!.prediction;
    expect(all).toHaveLength(1000);
    expect(all.reduce((sum, p) => sum + p.probability, 0)).toBeCloseTo(1, 4);
    expect(new Set(all.map((p) => p.index)).size).toBe(1000);
  });

  it('gives the same answer for a PNG and the same pixels sent raw as RGB, BGR and RGBA', async () => {
    const [width, height] = [160, 120];
    const rgb = rgbPixels(width, height, 5);
    const encoded = await sharp(rgb, { raw: { width, height, channels: 3 } })
      .png()
      .toBuffer();
    const all = { topK: 1000 };
    const fromPng = (await predict({ ...all, input: { $case: 'image', value: encoded } })).outputs[0]!.prediction;
    for (const [format, pixelFormat] of [
      ['RGB8', PixelFormat.PIXEL_FORMAT_RGB8],
      ['BGR8', PixelFormat.PIXEL_FORMAT_BGR8],
      ['RGBA8', PixelFormat.PIXEL_FORMAT_RGBA8],
    ] as const) {
      const fromRaw = (await predict({ ...all, input: raw(width, height, pixelFormat, convertRgb(rgb, format)) }))
        .outputs[0]!.prediction;
      expect(
        fromRaw.map((p) => p.index),
        format,
      ).toEqual(fromPng.map((p) => p.index));
      fromRaw.forEach((p, i) => expect(p.probability).toBeCloseTo(fromPng[i]!.probability, 6));
    }
  });

  it('classifies a raw GRAY8 frame', async () => {
    const gray = convertRgb(rgbPixels(64, 48), 'GRAY8');
    const response = await predict({ id: 'g', input: raw(64, 48, PixelFormat.PIXEL_FORMAT_GRAY8, gray) });
    expect(response.outputs[0]!.prediction).toHaveLength(5);
  });

  it('carries the replica identity and the weights that answered in x-instance and x-weights-sha256', async () => {
    const image = { $case: 'image' as const, value: await png(64, 64) };
    let answer: PredictResponse | undefined;
    const header = await new Promise<GrpcMetadata>((resolve, reject) => {
      const call = client.predict({ id: 'h', topK: 1, input: image }, (error, response) =>
        error ? reject(error) : (answer = response),
      );
      call.on('metadata', resolve);
    });
    expect(header.get('x-instance')).toEqual([server.config.instanceId]);
    await waitFor(() => answer, 10_000, 'the answer');
    expect(header.get('x-weights-sha256')).toEqual([answer!.model!.weightsSha256]);
  });
});

describe('Predict refuses caller mistakes with INVALID_ARGUMENT and a message that names the problem', () => {
  const cases: [string, () => Promise<Partial<PredictRequest>>, RegExp][] = [
    ['no input', async () => ({}), /no input/],
    ['empty image bytes', async () => ({ input: { $case: 'image', value: Buffer.alloc(0) } }), /empty/],
    ['random bytes', async () => ({ input: { $case: 'image', value: Buffer.from(rgbPixels(40, 40)) } }), /image\/png/],
    ['a GIF', async () => ({ input: { $case: 'image', value: await gif(64, 64) } }), /image\/png.*image\/jpeg|allowed/],
    ['a WebP', async () => ({ input: { $case: 'image', value: await webp(64, 64) } }), /allowed|image\/png/],
    ['a TIFF', async () => ({ input: { $case: 'image', value: await tiff(64, 64) } }), /allowed|image\/png/],
    [
      'a truncated PNG',
      async () => ({ input: { $case: 'image', value: (await png(200, 200)).subarray(0, 300) } }),
      /decode|truncated|corrupt/i,
    ],
    [
      'a truncated JPEG',
      async () => ({ input: { $case: 'image', value: (await jpeg(200, 200)).subarray(0, 400) } }),
      /decode|truncated|corrupt/i,
    ],
    [
      'an image below the dimension limits (31 px)',
      async () => ({ input: { $case: 'image', value: await png(31, 64) } }),
      /32/,
    ],
    [
      'raw data of the wrong length',
      async () => ({ input: raw(40, 40, PixelFormat.PIXEL_FORMAT_RGB8, Buffer.alloc(100)) }),
      /4800/,
    ],
    [
      'raw frame of zero width',
      async () => ({ input: raw(0, 40, PixelFormat.PIXEL_FORMAT_RGB8, Buffer.alloc(0)) }),
      /width/,
    ],
    [
      'raw frame without a pixel format',
      async () => ({ input: raw(40, 40, PixelFormat.PIXEL_FORMAT_UNSPECIFIED, Buffer.alloc(4800)) }),
      /format/,
    ],
  ];
  for (const [name, request, message] of cases) {
    it(name, async () => {
      const error = await refusal(await request());
      expect(error.code, error.details).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toMatch(message);
    });
  }

  it('a decoded size over the pixel cap', async () => {
    const capped = await startTestServer(['--max-input-pixels', '10000']);
    const cappedClient = modelClient(capped.address);
    try {
      const image = await png(200, 200);
      const error = await new Promise<ServiceError>((resolve, reject) =>
        cappedClient.predict({ id: 'big', topK: 0, input: { $case: 'image', value: image } }, (e) =>
          e ? resolve(e) : reject(new Error('expected a refusal')),
        ),
      );
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toMatch(/10000|pixel/);
    } finally {
      cappedClient.close();
      await capped.shutdown(0);
    }
  });

  it('a message over the size limit gets RESOURCE_EXHAUSTED', async () => {
    const small = await startTestServer(['--max-message-bytes', '65536']);
    const smallClient = modelClient(small.address);
    try {
      const error = await new Promise<ServiceError>((resolve, reject) =>
        smallClient.predict({ id: 'huge', topK: 0, input: { $case: 'image', value: Buffer.alloc(100_000, 1) } }, (e) =>
          e ? resolve(e) : reject(new Error('expected a refusal')),
        ),
      );
      expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(error.details).toMatch(/larger than max|message/i);
    } finally {
      smallClient.close();
      await small.shutdown(0);
    }
  });

  it('still serves a valid request after all of the above', async () => {
    const response = await predict({ id: 'after', input: { $case: 'image', value: await png(64, 64) } });
    expect(response.outputs[0]!.prediction).toHaveLength(5);
  });
});
