/**
 * ModelStreamInfer (Triton's bidirectional stream) through a client built at runtime from the .proto: one answer per
 * request, in order; a bad request in the middle is answered with error_message and the stream goes on; on a drain,
 * what was read is answered and the stream ends UNAVAILABLE.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { png, rgbPixels } from '../../../support/images.js';
import { admittedRequests } from '../../../support/metrics.js';
import {
  call,
  float32s,
  modelhubClient,
  oipClient,
  parseClassification,
  rawBytes,
  type OipClient,
} from '../../../support/oip.js';
import { waitFor } from '../../../support/poll.js';
import { startTestServer, type TestServer } from '../../../support/server.js';

const ORANGE = await readFile(
  fileURLToPath(new URL('../../../../contrib_src/sample_data/orange.jpg', import.meta.url)),
);
const CLASSES = 1000;

let server: TestServer;
let oip: OipClient;

const request = (id: string, inputs: object[], extra: object = {}) => ({
  model_name: 'xception',
  id,
  inputs,
  ...extra,
});
const image = (elements: Uint8Array[]) => ({
  name: 'image',
  datatype: 'BYTES',
  shape: [elements.length],
  contents: { bytes_contents: elements },
});
const pixels = (n: number, width: number, height: number, seed = 1) => ({
  name: 'pixels',
  datatype: 'UINT8',
  shape: [n, height, width, 3],
  contents: { uint_contents: Array.from({ length: n }, (_, i) => [...rgbPixels(width, height, seed + i)]).flat() },
});

beforeAll(async () => {
  server = await startTestServer(['--threads', '2']);
  oip = oipClient(server.address);
});

afterAll(async () => {
  oip?.close();
  await server?.shutdown(1000);
});

describe('ModelStreamInfer', () => {
  it('answers every request in order; bad ones in the middle get error_message and the stream goes on', async () => {
    const modelhub = modelhubClient(server.address);
    const predicted = await call(modelhub, 'Predict', { id: 'reference', top_k: CLASSES, image: ORANGE });
    modelhub.close();
    const reference = new Array<number>(CLASSES);
    for (const { index, probability } of predicted.outputs[0].prediction) reference[index] = probability;

    const requests = [
      request('ok-image', [image([ORANGE])]),
      request('bad-name', [{ ...image([ORANGE]), name: 'img' }]),
      request('ok-pixels', [pixels(2, 48, 40)]),
      request('bad-element', [image([await png(64, 64), Buffer.from('not an image')])]),
      request('ok-raw', [{ name: 'image', datatype: 'BYTES', shape: [1] }], {
        raw_input_contents: [rawBytes([ORANGE])],
      }),
      request('bad-model', [image([ORANGE])], { model_name: 'resnet50' }),
      request('bad-message', [{ ...image([ORANGE]), shape: ['9007199254740993'] }]),
      request('ok-classification', [image([ORANGE])], {
        outputs: [{ name: 'probabilities', parameters: { classification: { int64_param: 2 } } }],
      }),
    ];
    const responses: any[] = [];
    const stream = oip.ModelStreamInfer();
    const ended = new Promise<{ code: number; details: string }>((resolve) => {
      stream.on('status', resolve);
      stream.on('error', () => {});
    });
    stream.on('data', (response: any) => responses.push(response));
    for (const r of requests) stream.write(r);
    stream.end();
    expect((await ended).code).toBe(status.OK);

    // An undecodable message has no id to echo; every other answer carries its request's.
    expect(responses.map((r) => r.infer_response.id)).toEqual(
      requests.map((r) => (r.id === 'bad-message' ? '' : r.id)),
    );
    const byId = Object.fromEntries(responses.map((r, i) => [requests[i]!.id, r]));
    for (const id of ['ok-image', 'ok-pixels', 'ok-raw', 'ok-classification']) {
      expect(byId[id].error_message, id).toBe('');
      expect(byId[id].infer_response).toMatchObject({ model_name: 'xception', model_version: '1' });
    }
    expect(byId['bad-name'].error_message).toMatch(/^INVALID_ARGUMENT: unknown input "img"/);
    expect(byId['bad-element'].error_message).toMatch(/^INVALID_ARGUMENT: image\[1\]: /);
    expect(byId['bad-model'].error_message).toMatch(/^NOT_FOUND: unknown model "resnet50"/);
    expect(byId['bad-message'].error_message).toMatch(/^INVALID_ARGUMENT: .*could not be decoded/);
    for (const id of ['bad-name', 'bad-element', 'bad-model', 'bad-message'])
      expect(byId[id].infer_response.outputs, id).toEqual([]);

    const worst = (values: number[]) => Math.max(...values.map((p, i) => Math.abs(p - reference[i]!)));
    const typed = byId['ok-image'].infer_response.outputs[0];
    expect(typed.shape).toEqual(['1', String(CLASSES)]);
    expect(worst(typed.contents.fp32_contents)).toBeLessThanOrEqual(1e-6);
    expect(worst(float32s(byId['ok-raw'].infer_response.raw_output_contents[0]))).toBeLessThanOrEqual(1e-6);
    expect(byId['ok-pixels'].infer_response.outputs[0].shape).toEqual(['2', String(CLASSES)]);
    const best = byId['ok-classification'].infer_response.outputs[0].contents.bytes_contents.map((b: Buffer) =>
      parseClassification(b.toString()),
    );
    const order = reference
      .map((p, i) => [p, i] as const)
      .sort((a, b) => b[0] - a[0] || a[1] - b[1])
      .map(([, i]) => i);
    expect(best.map((entry: { index: number }) => entry.index)).toEqual(order.slice(0, 2));
  });

  it('on a drain answers the requests it read — the one cut short with UNAVAILABLE — and ends UNAVAILABLE', async () => {
    const draining = await startTestServer(['--threads', '2', '--stream-max-in-flight', '4']);
    const client = oipClient(draining.address);
    try {
      const responses: any[] = [];
      const stream = client.ModelStreamInfer();
      const ended = new Promise<{ code: number; details: string }>((resolve) => stream.on('error', resolve));
      stream.on('data', (response: any) => responses.push(response));
      // Six frames in two requests; four fit in flight, so the second request is read only in part when the drain starts.
      stream.write(request('first', [pixels(3, 64, 48)]));
      stream.write(request('second', [pixels(3, 64, 48, 9)]));
      const base = await admittedRequests(draining.metrics.registry);
      await waitFor(
        async () => (await admittedRequests(draining.metrics.registry)).total - base.total === 4,
        20_000,
        'four frames admitted',
      );
      const finished = draining.shutdown(20_000);
      const status_ = await ended;
      expect(status_.code).toBe(status.UNAVAILABLE);
      expect(status_.details).toMatch(/shutting down/);
      expect(
        responses.map((r) => [r.infer_response.id, r.error_message === '' ? 'OK' : r.error_message.split(':')[0]]),
      ).toEqual([
        ['first', 'OK'],
        ['second', 'UNAVAILABLE'],
      ]);
      expect(responses[0].infer_response.outputs[0].shape).toEqual(['3', String(CLASSES)]);
      expect(await finished).toBe(true);
    } finally {
      client.close();
      await draining.shutdown(1000);
    }
  });
});
