/**
 * inference.GRPCInferenceService through a client that knows only the protocol (built at runtime from the .proto):
 * ModelInfer answers what modelhub.v1 Predict answers on every sample image, in batches, for both inputs, with raw
 * and typed contents and the classification extension; metadata and health; and every caller mistake is
 * INVALID_ARGUMENT or NOT_FOUND with a message that names it, without any engine work.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { engineRuns } from '../../../support/engine-runs.js';
import { gif, png, rgbPixels } from '../../../support/images.js';
import {
  call,
  failure,
  float32s,
  modelhubClient,
  oipClient,
  parseClassification,
  rawBytes,
  splitRawBytes,
  type OipClient,
} from '../../../support/oip.js';
import { startTestServer, type TestServer } from '../../../support/server.js';

const SAMPLE_DIR = fileURLToPath(new URL('../../../../contrib_src/sample_data/', import.meta.url));
const VERSION: string = JSON.parse(
  await readFile(new URL('../../../../package.json', import.meta.url), 'utf8'),
).version;
const CLASSES = 1000;

let server: TestServer;
let oip: OipClient;
let modelhub: ReturnType<typeof modelhubClient>;
/** Every sample image, with Predict's probabilities for it (class order). */
let samples: { name: string; bytes: Buffer; reference: number[] }[];

interface Frame {
  readonly width: number;
  readonly height: number;
  readonly data: Buffer;
}

/** Predict's answer for every class, in class order: the reference ModelInfer must match. */
async function predictRow(input: { image: Buffer } | { raw: object }): Promise<number[]> {
  const response = await call(modelhub, 'Predict', { id: 'reference', top_k: CLASSES, ...input });
  const row = new Array<number>(CLASSES);
  for (const { index, probability } of response.outputs[0].prediction) row[index] = probability;
  return row;
}

const predictFrame = (frame: Frame) =>
  predictRow({ raw: { width: frame.width, height: frame.height, format: 'PIXEL_FORMAT_RGB8', data: frame.data } });

function inferRequest(inputs: object[], extra: object = {}) {
  return { model_name: 'xception', model_version: '', id: '', inputs, ...extra };
}

const imageTensor = (elements: Uint8Array[], shape: (number | string)[] = [elements.length]) => ({
  name: 'image',
  datatype: 'BYTES',
  shape,
  contents: { bytes_contents: elements },
});

const pixelTensor = (frames: readonly Frame[]) => ({
  name: 'pixels',
  datatype: 'UINT8',
  shape: [frames.length, frames[0]!.height, frames[0]!.width, 3],
  contents: { uint_contents: frames.flatMap((frame) => [...frame.data]) },
});

/** The same tensor with its contents moved to raw_input_contents. */
function asRaw(tensor: ReturnType<typeof imageTensor> | ReturnType<typeof pixelTensor>) {
  const { contents, ...rest } = tensor;
  const bytes = 'bytes_contents' in contents ? rawBytes(contents.bytes_contents) : Buffer.from(contents.uint_contents);
  return { input: rest, raw: bytes };
}

/** The rows of an FP32 [N, classes] output, typed or raw. */
function rowsOf(response: any, raw = false): number[][] {
  const [output] = response.outputs;
  expect(output).toMatchObject({ name: 'probabilities', datatype: 'FP32' });
  const values: number[] = raw ? float32s(response.raw_output_contents[0]) : output.contents.fp32_contents;
  const n = Number(output.shape[0]);
  expect(output.shape).toEqual([String(n), String(CLASSES)]);
  expect(values).toHaveLength(n * CLASSES);
  return Array.from({ length: n }, (_, i) => values.slice(i * CLASSES, (i + 1) * CLASSES));
}

function topK(row: readonly number[], k: number): number[] {
  return row
    .map((p, i) => [p, i] as const)
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .slice(0, k)
    .map(([, i]) => i);
}

function expectSameAnswer(row: readonly number[], reference: readonly number[]): void {
  expect(row).toHaveLength(reference.length);
  const worst = Math.max(...row.map((p, i) => Math.abs(p - reference[i]!)));
  expect(worst).toBeLessThanOrEqual(1e-6);
  expect(topK(row, 5)).toEqual(topK(reference, 5));
}

/** An RGB frame from an encoded image, decoded here (sharp): what a video pipeline would send as `pixels`. */
async function decodeToFrame(bytes: Buffer, size?: { width: number; height: number }): Promise<Frame> {
  let image = sharp(bytes).removeAlpha();
  if (size) image = image.resize(size.width, size.height, { fit: 'fill' });
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}

beforeAll(async () => {
  server = await startTestServer(['--threads', '2']);
  oip = oipClient(server.address);
  modelhub = modelhubClient(server.address);
  const names = (await readdir(SAMPLE_DIR)).filter((name) => /\.(png|jpe?g)$/.test(name)).sort();
  samples = [];
  for (const name of names) {
    const bytes = await readFile(`${SAMPLE_DIR}${name}`);
    samples.push({ name, bytes, reference: await predictRow({ image: bytes }) });
  }
});

afterAll(async () => {
  oip?.close();
  modelhub?.close();
  await server?.shutdown(1000);
});

describe('health and metadata', () => {
  it('ServerLive, ServerReady and ModelReady (with or without the version) say yes once the model is loaded', async () => {
    expect(await call(oip, 'ServerLive', {})).toEqual({ live: true });
    expect(await call(oip, 'ServerReady', {})).toEqual({ ready: true });
    expect(await call(oip, 'ModelReady', { name: 'xception' })).toEqual({ ready: true });
    expect(await call(oip, 'ModelReady', { name: 'xception', version: '1' })).toEqual({ ready: true });
  });

  it('ServerMetadata names the server, its version and the classification extension', async () => {
    const metadata = await call(oip, 'ServerMetadata', {});
    expect(metadata).toEqual({ name: 'xception', version: VERSION, extensions: ['classification'] });
  });

  it('ModelMetadata gives both inputs and the output, −1 for variable dimensions, and the platform', async () => {
    const expected = {
      name: 'xception',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [
        { name: 'image', datatype: 'BYTES', shape: ['-1'] },
        { name: 'pixels', datatype: 'UINT8', shape: ['-1', '-1', '-1', '3'] },
      ],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: ['-1', String(CLASSES)] }],
    };
    expect(await call(oip, 'ModelMetadata', { name: 'xception' })).toEqual(expected);
    expect(await call(oip, 'ModelMetadata', { name: 'xception', version: '1' })).toEqual(expected);
  });

  it('an unknown model or version is NOT_FOUND in ModelReady and ModelMetadata', async () => {
    for (const method of ['ModelReady', 'ModelMetadata']) {
      const model = await failure(call(oip, method, { name: 'resnet50' }));
      expect(model.code, method).toBe(status.NOT_FOUND);
      expect(model.details).toMatch(/unknown model "resnet50".*"xception"/);
      const version = await failure(call(oip, method, { name: 'xception', version: '2' }));
      expect(version.code, method).toBe(status.NOT_FOUND);
      expect(version.details).toMatch(/no version "2"/);
    }
  });
});

describe('ModelInfer', () => {
  it('answers each sample image with the probabilities Predict gives (within 1e-6) and the same top 5', async () => {
    expect(samples.map((s) => s.name)).toEqual(['checkerboard.png', 'orange.jpg', 'sunset.jpg', 'traffic-light.png']);
    for (const sample of samples) {
      const response = await call(oip, 'ModelInfer', inferRequest([imageTensor([sample.bytes])], { id: sample.name }));
      expect(response).toMatchObject({
        model_name: 'xception',
        model_version: '1',
        id: sample.name,
        raw_output_contents: [],
      });
      const [row] = rowsOf(response);
      expectSameAnswer(row!, sample.reference);
    }
  });

  it('batches N=3 images in one request, typed or raw, each row the answer for its own image', async () => {
    const batch = samples.slice(0, 3);
    const tensor = imageTensor(batch.map((s) => s.bytes));
    const typed = rowsOf(await call(oip, 'ModelInfer', inferRequest([tensor], { model_version: '1' })));
    const { input, raw } = asRaw(tensor);
    const rawResponse = await call(oip, 'ModelInfer', inferRequest([input], { raw_input_contents: [raw] }));
    // Raw in, raw out: the outputs carry no typed contents.
    expect(rawResponse.outputs[0].contents).toBeNull();
    const fromRaw = rowsOf(rawResponse, true);
    batch.forEach((sample, i) => {
      expectSameAnswer(typed[i]!, sample.reference);
      expectSameAnswer(fromRaw[i]!, sample.reference);
    });
  });

  it('takes pixels, UINT8 [N, H, W, 3], typed or raw: each frame answered like Predict on the same RGB pixels', async () => {
    const orange = samples.find((s) => s.name === 'orange.jpg')!;
    const sunset = samples.find((s) => s.name === 'sunset.jpg')!;
    const frames = [
      await decodeToFrame(orange.bytes),
      await decodeToFrame(sunset.bytes, { width: 400, height: 300 }),
      { width: 400, height: 300, data: rgbPixels(400, 300, 7) },
    ];
    const references = [orange.reference, await predictFrame(frames[1]!), await predictFrame(frames[2]!)];
    const tensor = pixelTensor(frames);
    const typed = rowsOf(await call(oip, 'ModelInfer', inferRequest([tensor])));
    const { input, raw } = asRaw(tensor);
    const fromRaw = rowsOf(await call(oip, 'ModelInfer', inferRequest([input], { raw_input_contents: [raw] })), true);
    // The decoded JPEG's pixels answer what the JPEG itself answers: the same preprocessing after decoding.
    references.forEach((reference, i) => {
      expectSameAnswer(typed[i]!, reference);
      expectSameAnswer(fromRaw[i]!, reference);
    });
  });

  it('honours the classification extension: BYTES [N, k] of "<score>:<index>:<label>", best first, typed or raw', async () => {
    const batch = [samples[1]!, samples[3]!];
    const labels: string[] = (await call(modelhub, 'GetMetadata', {})).labels;
    const tensor = imageTensor(batch.map((s) => s.bytes));
    const outputs = [{ name: 'probabilities', parameters: { classification: { int64_param: 3 } } }];
    const typed = await call(oip, 'ModelInfer', inferRequest([tensor], { outputs }));
    const { input, raw } = asRaw(tensor);
    const rawResponse = await call(oip, 'ModelInfer', inferRequest([input], { outputs, raw_input_contents: [raw] }));
    for (const [response, entries] of [
      [typed, typed.outputs[0].contents.bytes_contents.map((b: Buffer) => b.toString('utf8'))],
      [rawResponse, splitRawBytes(rawResponse.raw_output_contents[0]).map((b) => b.toString('utf8'))],
    ] as const) {
      expect(response.outputs[0]).toMatchObject({ name: 'probabilities', datatype: 'BYTES', shape: ['2', '3'] });
      expect(entries).toHaveLength(6);
      batch.forEach((sample, i) => {
        const parsed = (entries as string[]).slice(i * 3, i * 3 + 3).map(parseClassification);
        expect(parsed.map((e) => e.index)).toEqual(topK(sample.reference, 3));
        parsed.forEach((entry) => {
          expect(entry.label).toBe(labels[entry.index]);
          expect(Math.abs(entry.score - sample.reference[entry.index]!)).toBeLessThanOrEqual(1e-6);
        });
      });
    }
  });

  it('a classification k past the class count answers every class, best first', async () => {
    const outputs = [{ name: 'probabilities', parameters: { classification: { uint64_param: 5000 } } }];
    const response = await call(oip, 'ModelInfer', inferRequest([imageTensor([samples[2]!.bytes])], { outputs }));
    expect(response.outputs[0].shape).toEqual(['1', String(CLASSES)]);
    const indices = response.outputs[0].contents.bytes_contents.map(
      (b: Buffer) => parseClassification(b.toString()).index,
    );
    expect(indices).toEqual(topK(samples[2]!.reference, CLASSES));
  });
});

describe('ModelInfer refuses caller mistakes with a status that names the problem, and does no engine work', () => {
  const pixels = (shape: number[], values: number[]) => ({
    name: 'pixels',
    datatype: 'UINT8',
    shape,
    contents: { uint_contents: values },
  });
  const gray40 = new Array<number>(40 * 40 * 3).fill(128);
  const cases: [string, () => Promise<object>, status, RegExp][] = [
    [
      'an unknown model',
      async () => ({ ...inferRequest([imageTensor([await png(64, 64)])]), model_name: 'resnet50' }),
      status.NOT_FOUND,
      /unknown model "resnet50": this server serves "xception"/,
    ],
    [
      'an unknown version',
      async () => inferRequest([imageTensor([await png(64, 64)])], { model_version: '2' }),
      status.NOT_FOUND,
      /no version "2"; its only version is "1"/,
    ],
    ['no input', async () => inferRequest([]), status.INVALID_ARGUMENT, /exactly one input tensor.*got 0/],
    [
      'two inputs',
      async () => inferRequest([imageTensor([await png(64, 64)]), pixels([1, 40, 40, 3], gray40)]),
      status.INVALID_ARGUMENT,
      /exactly one input tensor.*got 2 \("image", "pixels"\)/,
    ],
    [
      'a wrong tensor name',
      async () => inferRequest([{ ...imageTensor([await png(64, 64)]), name: 'images' }]),
      status.INVALID_ARGUMENT,
      /unknown input "images": expected "image" \(BYTES.*"pixels" \(UINT8/,
    ],
    [
      'a wrong datatype for image',
      async () => inferRequest([{ ...imageTensor([await png(64, 64)]), datatype: 'UINT8' }]),
      status.INVALID_ARGUMENT,
      /input "image" has datatype "UINT8"; expected BYTES/,
    ],
    [
      'a wrong datatype for pixels',
      async () => inferRequest([{ ...pixels([1, 40, 40, 3], gray40), datatype: 'FP32' }]),
      status.INVALID_ARGUMENT,
      /input "pixels" has datatype "FP32"; expected UINT8/,
    ],
    [
      'an image shape of two dimensions',
      async () => inferRequest([imageTensor([await png(64, 64)], [1, 1])]),
      status.INVALID_ARGUMENT,
      /input "image" has shape \[1, 1\]; expected \[N\] with 1 ≤ N ≤ 32/,
    ],
    [
      'more images than a request may carry',
      async () => inferRequest([imageTensor(new Array(33).fill(Buffer.alloc(1)))]),
      status.INVALID_ARGUMENT,
      /shape \[33\]; expected \[N\] with 1 ≤ N ≤ 32/,
    ],
    [
      'fewer image elements than the shape says',
      async () => inferRequest([imageTensor([await png(64, 64)], [2])]),
      status.INVALID_ARGUMENT,
      /input "image" has 1 element\(s\); shape \[2\] needs 2/,
    ],
    [
      'image bytes in the wrong contents field',
      async () => inferRequest([{ ...imageTensor([], [2]), contents: { fp32_contents: [1, 2] } }]),
      status.INVALID_ARGUMENT,
      /input "image" is BYTES.*got contents\.fp32_contents/,
    ],
    [
      'no contents at all',
      async () => inferRequest([imageTensor([], [1])]),
      status.INVALID_ARGUMENT,
      /input "image" has no contents/,
    ],
    [
      'pixels with four channels',
      async () => inferRequest([pixels([1, 40, 40, 4], new Array(6400).fill(0))]),
      status.INVALID_ARGUMENT,
      /input "pixels" has shape \[1, 40, 40, 4\]; expected \[N, H, W, 3\]/,
    ],
    [
      'pixel values fewer than the shape needs',
      async () => inferRequest([pixels([1, 40, 40, 3], new Array(100).fill(0))]),
      status.INVALID_ARGUMENT,
      /input "pixels" has 100 values; shape \[1, 40, 40, 3\] needs 4800/,
    ],
    [
      'raw pixel bytes fewer than the shape needs',
      async () =>
        inferRequest([{ name: 'pixels', datatype: 'UINT8', shape: [1, 40, 40, 3] }], {
          raw_input_contents: [Buffer.alloc(100)],
        }),
      status.INVALID_ARGUMENT,
      /raw contents of input "pixels" are 100 bytes; shape \[1, 40, 40, 3\] needs 4800/,
    ],
    [
      'a pixel value over 255',
      async () => inferRequest([pixels([1, 40, 40, 3], [300, ...gray40.slice(1)])]),
      status.INVALID_ARGUMENT,
      /"pixels" value 300 at index 0 is not a UINT8/,
    ],
    [
      "a frame below the model's 32 px",
      async () => inferRequest([pixels([1, 10, 40, 3], new Array(1200).fill(0))]),
      status.INVALID_ARGUMENT,
      /pixels\[0\]: image height 10 px is below the minimum of 32 px/,
    ],
    [
      'raw contents for a different number of inputs',
      async () =>
        inferRequest([{ name: 'image', datatype: 'BYTES', shape: [1] }], {
          raw_input_contents: [Buffer.alloc(4), Buffer.alloc(4)],
        }),
      status.INVALID_ARGUMENT,
      /raw_input_contents has 2 entries for 1 input/,
    ],
    [
      'raw and typed contents together',
      async () =>
        inferRequest([imageTensor([await png(64, 64)])], { raw_input_contents: [rawBytes([await png(64, 64)])] }),
      status.INVALID_ARGUMENT,
      /contents as well as raw_input_contents/,
    ],
    [
      'a raw BYTES element longer than the bytes that follow',
      async () =>
        inferRequest([{ name: 'image', datatype: 'BYTES', shape: [1] }], {
          raw_input_contents: [rawBytes([await png(64, 64)]).subarray(0, 50)],
        }),
      status.INVALID_ARGUMENT,
      /element 0 declares \d+ bytes but only 46 follow/,
    ],
    [
      'a corrupt image as the second element',
      async () => inferRequest([imageTensor([await png(64, 64), Buffer.from('not an image at all')])]),
      status.INVALID_ARGUMENT,
      /^image\[1\]: .*image\/png/,
    ],
    ['a GIF', async () => inferRequest([imageTensor([await gif(64, 64)])]), status.INVALID_ARGUMENT, /^image\[0\]: /],
    [
      'an unknown output',
      async () => inferRequest([imageTensor([await png(64, 64)])], { outputs: [{ name: 'logits' }] }),
      status.INVALID_ARGUMENT,
      /unknown output "logits": the model's output is "probabilities"/,
    ],
    [
      'classification 0',
      async () =>
        inferRequest([imageTensor([await png(64, 64)])], {
          outputs: [{ name: 'probabilities', parameters: { classification: { int64_param: 0 } } }],
        }),
      status.INVALID_ARGUMENT,
      /"classification" must be a whole number ≥ 1 \(int64\); got 0/,
    ],
    [
      'classification as a string',
      async () =>
        inferRequest([imageTensor([await png(64, 64)])], {
          outputs: [{ name: 'probabilities', parameters: { classification: { string_param: '3' } } }],
        }),
      status.INVALID_ARGUMENT,
      /"classification" must be a whole number ≥ 1 \(int64\); got "3"/,
    ],
    [
      'a shape dimension past 2^53 (protobuf int64)',
      async () => inferRequest([imageTensor([await png(64, 64)], ['9007199254740993'])]),
      status.INVALID_ARGUMENT,
      /could not be decoded.*2\^53/,
    ],
  ];
  for (const [name, request, code, message] of cases) {
    it(name, async () => {
      const before = await engineRuns(server);
      const error = await failure(call(oip, 'ModelInfer', await request()));
      expect(error.code, error.details).toBe(code);
      expect(error.details).toMatch(message);
      expect(await engineRuns(server)).toBe(before);
    });
  }
});
