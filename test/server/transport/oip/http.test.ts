/**
 * The Open Inference Protocol's REST routes on --http-port, with fetch: metadata, health, and inference with JSON
 * tensors (BYTES as base64 strings, pixels as numbers) answering what gRPC Predict answers; errors as {"error"} with
 * 400 for caller mistakes and 404 for an unknown model or version.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { call, modelhubClient, parseClassification } from '../../../support/oip.js';
import { errorOf, startHttpTestServer, type HttpTestServer } from '../http/helpers.js';

const SAMPLE_DIR = fileURLToPath(new URL('../../../../contrib_src/sample_data/', import.meta.url));
const VERSION: string = JSON.parse(
  await readFile(new URL('../../../../package.json', import.meta.url), 'utf8'),
).version;
const CLASSES = 1000;

let server: HttpTestServer;
let orange: Buffer;
let checkerboard: Buffer;
/** Predict's probabilities (class order) over gRPC, the reference. */
const reference: Record<string, number[]> = {};

function post(path: string, body: unknown, contentType = 'application/json'): Promise<Response> {
  return fetch(`${server.base}${path}`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const infer = (body: unknown) => post('/v2/models/xception/infer', body);
const imageInput = (images: Buffer[]) => ({
  name: 'image',
  datatype: 'BYTES',
  shape: [images.length],
  data: images.map((b) => b.toString('base64')),
});

function rowsOf(body: any): number[][] {
  const [output] = body.outputs;
  expect(output).toMatchObject({ name: 'probabilities', datatype: 'FP32' });
  const [n, classes] = output.shape;
  expect(classes).toBe(CLASSES);
  expect(output.data).toHaveLength(n * CLASSES);
  return Array.from({ length: n }, (_, i) => output.data.slice(i * CLASSES, (i + 1) * CLASSES));
}

const order = (row: readonly number[]) =>
  row
    .map((p, i) => [p, i] as const)
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .map(([, i]) => i);

function expectSameAnswer(row: readonly number[], expected: readonly number[]): void {
  expect(Math.max(...row.map((p, i) => Math.abs(p - expected[i]!)))).toBeLessThanOrEqual(1e-6);
  expect(order(row).slice(0, 5)).toEqual(order(expected).slice(0, 5));
}

beforeAll(async () => {
  server = await startHttpTestServer();
  orange = await readFile(`${SAMPLE_DIR}orange.jpg`);
  checkerboard = await readFile(`${SAMPLE_DIR}checkerboard.png`);
  const modelhub = modelhubClient(server.address);
  for (const [name, bytes] of [
    ['orange', orange],
    ['checkerboard', checkerboard],
  ] as const) {
    const response = await call(modelhub, 'Predict', { id: name, top_k: CLASSES, image: bytes });
    reference[name] = new Array<number>(CLASSES);
    for (const { index, probability } of response.outputs[0].prediction) reference[name]![index] = probability;
  }
  modelhub.close();
});

afterAll(async () => {
  await server?.shutdown(1000);
});

describe('v2 REST: metadata and health', () => {
  it('GET /v2 names the server, its version and its extensions', async () => {
    const response = await fetch(`${server.base}/v2`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ name: 'xception', version: VERSION, extensions: ['classification'] });
  });

  it('GET /v2/health/live and /v2/health/ready answer 200', async () => {
    const live = await fetch(`${server.base}/v2/health/live`);
    expect([live.status, await live.json()]).toEqual([200, { live: true }]);
    const ready = await fetch(`${server.base}/v2/health/ready`);
    expect([ready.status, await ready.json()]).toEqual([200, { ready: true }]);
  });

  it('GET /v2/models/xception[/versions/1] gives the tensors; /ready says ready', async () => {
    for (const path of ['/v2/models/xception', '/v2/models/xception/versions/1']) {
      const response = await fetch(`${server.base}${path}`);
      expect(response.status, path).toBe(200);
      expect(await response.json()).toEqual({
        name: 'xception',
        versions: ['1'],
        platform: 'onnxruntime_onnx',
        inputs: [
          { name: 'image', datatype: 'BYTES', shape: [-1] },
          { name: 'pixels', datatype: 'UINT8', shape: [-1, -1, -1, 3] },
        ],
        outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, CLASSES] }],
      });
      const ready = await fetch(`${server.base}${path}/ready`);
      expect([ready.status, await ready.json()]).toEqual([200, { name: 'xception', ready: true }]);
    }
  });

  it('an unknown model or version is 404 {"error"} on every model route', async () => {
    for (const path of [
      '/v2/models/resnet50',
      '/v2/models/resnet50/ready',
      '/v2/models/xception/versions/2',
      '/v2/models/xception/versions/2/ready',
    ]) {
      const response = await fetch(`${server.base}${path}`);
      expect(response.status, path).toBe(404);
      expect(await errorOf(response)).toMatch(/unknown model "resnet50"|no version "2"/);
    }
    for (const path of ['/v2/models/resnet50/infer', '/v2/models/xception/versions/2/infer']) {
      const response = await post(path, { inputs: [imageInput([orange])] });
      expect(response.status, path).toBe(404);
      expect(await errorOf(response)).toMatch(/unknown model "resnet50"|no version "2"/);
    }
  });
});

describe('v2 REST: POST /v2/models/xception/infer', () => {
  it('answers base64 images, N=2, with the probabilities gRPC Predict gives, the id echoed and the replica named', async () => {
    const response = await infer({ id: 'req-7', inputs: [imageInput([orange, checkerboard])] });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-instance')).toBe(server.config.instanceId);
    const body = await response.json();
    expect(body).toMatchObject({ model_name: 'xception', model_version: '1', id: 'req-7' });
    const [first, second] = rowsOf(body);
    expectSameAnswer(first!, reference.orange!);
    expectSameAnswer(second!, reference.checkerboard!);
  });

  it('answers on the versioned route too, without an id when none was sent', async () => {
    const response = await post('/v2/models/xception/versions/1/infer', { inputs: [imageInput([orange])] });
    const body = await response.json();
    expect(body.id).toBeUndefined();
    expectSameAnswer(rowsOf(body)[0]!, reference.orange!);
  });

  it('takes pixels as a flat or a nested number array, answered like the decoded JPEG', async () => {
    const { data, info } = await sharp(orange).raw().toBuffer({ resolveWithObject: true });
    const flat = [...data];
    const shape = [1, info.height, info.width, 3];
    const nested = [
      Array.from({ length: info.height }, (_, y) =>
        Array.from({ length: info.width }, (_, x) =>
          flat.slice((y * info.width + x) * 3, (y * info.width + x) * 3 + 3),
        ),
      ),
    ];
    for (const values of [flat, nested]) {
      const response = await infer({ inputs: [{ name: 'pixels', datatype: 'UINT8', shape, data: values }] });
      expect(response.status).toBe(200);
      expectSameAnswer(rowsOf(await response.json())[0]!, reference.orange!);
    }
  });

  it('honours the classification extension with plain "<score>:<index>:<label>" strings, best first', async () => {
    const response = await infer({
      inputs: [imageInput([orange])],
      outputs: [{ name: 'probabilities', parameters: { classification: 3 } }],
    });
    const [output] = (await response.json()).outputs;
    expect(output).toMatchObject({ name: 'probabilities', datatype: 'BYTES', shape: [1, 3] });
    const entries = output.data.map(parseClassification);
    expect(entries.map((e: { index: number }) => e.index)).toEqual(order(reference.orange!).slice(0, 3));
    for (const entry of entries)
      expect(Math.abs(entry.score - reference.orange![entry.index]!)).toBeLessThanOrEqual(1e-6);
  });

  const cases: [string, () => unknown, RegExp][] = [
    [
      'a wrong tensor name',
      () => ({ inputs: [{ ...imageInput([orange]), name: 'images' }] }),
      /unknown input "images"/,
    ],
    [
      'a wrong datatype',
      () => ({ inputs: [{ ...imageInput([orange]), datatype: 'STRING' }] }),
      /datatype "STRING"; expected BYTES/,
    ],
    [
      'a shape the data does not fill',
      () => ({ inputs: [{ ...imageInput([orange]), shape: [2] }] }),
      /1 element\(s\); shape \[2\] needs 2/,
    ],
    [
      'an image that is not base64',
      () => ({ inputs: [{ ...imageInput([orange]), data: ['not base64!'] }] }),
      /element 0 is not a base64 string/,
    ],
    [
      'image data as numbers',
      () => ({ inputs: [{ ...imageInput([orange]), data: [1, 2, 3] }] }),
      /is BYTES.*got numbers/,
    ],
    [
      'pixels of the wrong length',
      () => ({ inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 40, 40, 3], data: [1, 2] }] }),
      /"pixels" has 2 values; shape \[1, 40, 40, 3\] needs 4800/,
    ],
    [
      'pixels as strings',
      () => ({ inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 1, 1, 3], data: ['AAAA'] }] }),
      /is UINT8.*got byte strings/,
    ],
    [
      'a missing datatype',
      () => ({ inputs: [{ name: 'image', shape: [1], data: [] }] }),
      /must have required property 'datatype'/,
    ],
    ['no inputs', () => ({}), /must have required property 'inputs'/],
    [
      'an unknown output',
      () => ({ inputs: [imageInput([orange])], outputs: [{ name: 'logits' }] }),
      /unknown output "logits"/,
    ],
    [
      'classification 0',
      () => ({
        inputs: [imageInput([orange])],
        outputs: [{ name: 'probabilities', parameters: { classification: 0 } }],
      }),
      /"classification" must be a whole number ≥ 1/,
    ],
    [
      'the binary tensor data extension',
      () => ({ inputs: [{ ...imageInput([orange]), parameters: { binary_data_size: 10 } }] }),
      /binary tensor data extension is not supported/,
    ],
    ['malformed JSON', () => '{"inputs": [', /JSON/i],
  ];
  for (const [name, body, message] of cases) {
    it(`400 {"error"} for ${name}`, async () => {
      const response = await infer(body());
      expect(response.status).toBe(400);
      expect(await errorOf(response)).toMatch(message);
    });
  }

  it('400 {"error"} naming JSON for a body that is not JSON', async () => {
    const response = await post('/v2/models/xception/infer', 'image bytes', 'application/octet-stream');
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toBe(
      'POST /v2/models/xception/infer takes a JSON inference request (content-type: application/json)',
    );
  });
});
