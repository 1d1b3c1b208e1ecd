/**
 * ModelHub's predict routes over real HTTP: the answer's exact shape, agreement with gRPC (one inference path), every
 * bad upload as 400 {"error"}. The scheduler's limits as HTTP statuses: limits.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelServiceClient, PredictResponse } from '../../../../src/gen/modelhub/v1/model_service.js';
import { gif, jpeg, png, webp } from '../../../support/images.js';
import { modelClient } from '../../../support/server.js';
import { errorOf, startHttpTestServer, upload, type HttpTestServer } from './helpers.js';

let server: HttpTestServer;
let labels: string[];

beforeAll(async () => {
  server = await startHttpTestServer();
  labels = (await server.ready).metadata().labels;
});

afterAll(async () => {
  await server?.shutdown(1000);
});

interface ModelHubAnswer {
  output: {
    prediction: { label: string; probability: number }[];
    shape: number[];
    type: string;
    name: string;
    description: string;
  }[];
  timestamp: string;
  processing_time: number;
  model: { id: string; name: string };
}

function expectModelHubShape(answer: ModelHubAnswer): void {
  expect(Object.keys(answer).sort()).toEqual(['model', 'output', 'processing_time', 'timestamp']);
  expect(answer.model).toEqual({ id: 'dbf35840-9c8d-408f-8a36-b9fe2f8e5546', name: 'xception' });
  expect(answer.output).toHaveLength(1);
  const [output] = answer.output;
  expect(Object.keys(output!)).toEqual(['prediction', 'shape', 'type', 'name', 'description']);
  expect(output).toMatchObject({
    shape: [1000],
    type: 'label_list',
    name: 'probabilities',
    description: 'Probabilities of the 1000 classes in the ImageNet dataset.',
  });
  // All labels, in class order, each {label, probability} only.
  expect(output!.prediction.map((p) => p.label)).toEqual(labels);
  for (const entry of output!.prediction) {
    expect(Object.keys(entry)).toEqual(['label', 'probability']);
    expect(entry.probability).toBeGreaterThanOrEqual(0);
    expect(entry.probability).toBeLessThanOrEqual(1);
  }
  const sum = output!.prediction.reduce((total, p) => total + p.probability, 0);
  expect(sum).toBeCloseTo(1, 3);
  // "%Y-%m-%d-%H-%M-%S-%f" in UTC, microseconds in six digits.
  const match = /^(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{6})$/.exec(answer.timestamp);
  expect(match).not.toBeNull();
  const [, y, mo, d, h, mi, s, us] = match!.map(Number);
  const when = Date.UTC(y!, mo! - 1, d!, h!, mi!, s!, Math.floor(us! / 1000));
  expect(Math.abs(when - Date.now())).toBeLessThan(60_000);
  expect(answer.processing_time).toBeGreaterThan(0);
  expect(answer.processing_time).toBeLessThan(30);
}

describe('POST /api/predict', () => {
  it("classifies a PNG: ModelHub's answer with all 1000 labels in class order", async () => {
    const response = await upload(server.base, await png(320, 240));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expectModelHubShape(await response.json());
  });

  it('classifies a JPEG, whatever type and name the client claims', async () => {
    const response = await upload(server.base, await jpeg(200, 300), { filename: 'photo.png', type: 'image/png' });
    expect(response.status).toBe(200);
    expectModelHubShape(await response.json());
  });

  it('gives the same probabilities as gRPC Predict for the same image: one inference path', async () => {
    const image = await png(300, 200, 7);
    const http = (await (await upload(server.base, image)).json()) as ModelHubAnswer;
    const client: ModelServiceClient = modelClient(server.address);
    try {
      const grpc = await new Promise<PredictResponse>((resolve, reject) =>
        client.predict({ id: 'same', topK: 1000, input: { $case: 'image', value: image } }, (e, r) =>
          e ? reject(e) : resolve(r),
        ),
      );
      const byIndex = new Float32Array(1000);
      for (const p of grpc.outputs[0]!.prediction) byIndex[p.index] = p.probability;
      expect(http.output[0]!.prediction.map((p) => p.probability)).toEqual([...byIndex]);
    } finally {
      client.close();
    }
  });

  it('other form fields and files beside "file" are ignored', async () => {
    const form = new FormData();
    form.append('note', 'hello');
    form.append('other', new Blob([Buffer.from('not an image')]), 'other.txt');
    form.append('file', new Blob([await png(64, 64)]), 'x.png');
    const response = await fetch(`${server.base}/api/predict`, { method: 'POST', body: form });
    expect(response.status).toBe(200);
  });
});

describe('bad uploads are 400 {"error"}', () => {
  it('no "file" field', async () => {
    const response = await upload(server.base, await png(64, 64), { field: 'image' });
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/no file in the multipart field "file"/);
  });

  it('"file" sent as a text field, not a file', async () => {
    const form = new FormData();
    form.append('file', 'just text');
    const response = await fetch(`${server.base}/api/predict`, { method: 'POST', body: form });
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/no file/);
  });

  it('not an image', async () => {
    const response = await upload(server.base, Buffer.from('hello, this is text and not a picture'), {
      filename: 'x.png',
      type: 'image/png',
    });
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/unrecognised image format/);
  });

  it('a GIF (and a WebP): formats the model does not take', async () => {
    const gifResponse = await upload(server.base, await gif(64, 64), { filename: 'x.gif', type: 'image/gif' });
    expect(gifResponse.status).toBe(400);
    expect(await errorOf(gifResponse)).toMatch(/unsupported image format GIF/);
    const webpResponse = await upload(server.base, await webp(64, 64));
    expect(webpResponse.status).toBe(400);
    expect(await errorOf(webpResponse)).toMatch(/WEBP/);
  });

  it('an empty file', async () => {
    const response = await upload(server.base, new Uint8Array(0));
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/empty/);
  });

  it("an image below the model's minimum size", async () => {
    const response = await upload(server.base, await png(16, 16));
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/below the minimum/);
  });

  it('a truncated PNG', async () => {
    const whole = await png(128, 128);
    const response = await upload(server.base, whole.subarray(0, whole.length >> 1));
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/could not decode PNG/);
  });

  it('a body that is not multipart', async () => {
    const asJson = await fetch(`${server.base}/api/predict`, {
      method: 'POST',
      body: JSON.stringify({ file: 'x' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(asJson.status).toBe(400);
    expect(await errorOf(asJson)).toMatch(/multipart\/form-data/);
    const raw = await fetch(`${server.base}/api/predict`, {
      method: 'POST',
      body: await png(64, 64),
      headers: { 'content-type': 'image/png' },
    });
    expect(raw.status).toBe(400);
    expect(await errorOf(raw)).toMatch(/multipart\/form-data/);
  });

  it('a malformed multipart body', async () => {
    const response = await fetch(`${server.base}/api/predict`, {
      method: 'POST',
      body: '--b\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n\r\nabc',
      headers: { 'content-type': 'multipart/form-data; boundary=b' },
    });
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/malformed multipart/);
  });

  it('GET /api/predict without fileurl', async () => {
    const response = await fetch(`${server.base}/api/predict`);
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/fileurl/);
  });
});

describe('GET /api/predict_sample', () => {
  it('classifies a listed sample', async () => {
    const [sample] = (await server.ready).metadata().sampleFiles;
    const response = await fetch(`${server.base}/api/predict_sample?filename=${encodeURIComponent(sample!)}`);
    expect(response.status).toBe(200);
    expectModelHubShape(await response.json());
  });

  it('an unknown sample is 404 {"error"}; no filename is 400', async () => {
    const unknown = await fetch(`${server.base}/api/predict_sample?filename=nope.png`);
    expect(unknown.status).toBe(404);
    expect(await errorOf(unknown)).toMatch(/no sample named "nope.png"/);
    const missing = await fetch(`${server.base}/api/predict_sample`);
    expect(missing.status).toBe(400);
    expect(await errorOf(missing)).toMatch(/filename/);
  });
});
