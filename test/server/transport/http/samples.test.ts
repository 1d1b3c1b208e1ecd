/** Sample images and the thumbnail: absolute sample URLs, exact bytes, and no way out of the folders. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorOf, rawGet, startHttpTestServer, type HttpTestServer } from './helpers.js';

let server: HttpTestServer;
let samples: readonly string[];

beforeAll(async () => {
  server = await startHttpTestServer();
  samples = (await server.ready).metadata().sampleFiles;
});

afterAll(async () => {
  await server?.shutdown(1000);
});

const port = () => server.httpPort!;

describe('GET /api/get_samples', () => {
  it('lists absolute URLs built from the host the caller used', async () => {
    const response = await fetch(`${server.base}/api/get_samples`);
    expect(response.status).toBe(200);
    const urls = (await response.json()) as string[];
    expect(samples.length).toBeGreaterThan(0);
    expect(urls).toEqual(samples.map((name) => `http://127.0.0.1:${port()}/api/samples/${encodeURIComponent(name)}`));

    const viaLocalhost = (await fetch(`http://localhost:${port()}/api/get_samples`).then((r) => r.json())) as string[];
    expect(viaLocalhost[0]).toBe(`http://localhost:${port()}/api/samples/${encodeURIComponent(samples[0]!)}`);
  });

  it('every listed URL serves the sample file with an image content type', async () => {
    const urls = (await fetch(`${server.base}/api/get_samples`).then((r) => r.json())) as string[];
    for (const [i, url] of urls.entries()) {
      const response = await fetch(url);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^image\/(png|jpeg)$/);
      const bytes = Buffer.from(await response.arrayBuffer());
      expect(bytes.equals(await readFile(join(server.config.contribDir, 'sample_data', samples[i]!)))).toBe(true);
    }
  });
});

describe('GET /api/thumbnail/<name>', () => {
  it('serves thumbnail.jpg from the model folder', async () => {
    const response = await fetch(`${server.base}/api/thumbnail/thumbnail.jpg`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/jpeg');
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(bytes.equals(await readFile(join(server.config.contribDir, 'model', 'thumbnail.jpg')))).toBe(true);
  });

  it('serves nothing else from the model folder', async () => {
    for (const name of ['config.json', 'labels.json', 'model.h5', 'thumbnail.gif']) {
      const response = await fetch(`${server.base}/api/thumbnail/${name}`);
      expect(response.status, name).toBe(404);
      await errorOf(response);
    }
  });
});

describe('path traversal', () => {
  const attempts = [
    '/api/samples/../model/config.json',
    '/api/samples/..%2fmodel%2fconfig.json',
    '/api/samples/%2e%2e%2fmodel%2fconfig.json',
    '/api/samples/%2E%2E%2F%2E%2E%2F%2E%2E%2Fetc%2Fpasswd',
    '/api/samples/..%5cmodel%5cconfig.json',
    '/api/samples/%2fetc%2fpasswd',
    '/api/samples//etc/passwd',
    '/api/samples/%252e%252e%252fmodel%252fconfig.json',
    '/api/samples/.',
    '/api/samples/..',
    '/api/samples/%00orange.jpg',
    '/api/thumbnail/..%2fconfig.json',
    '/api/thumbnail/%2e%2e%2fmodel%2fconfig.json',
    '/api/thumbnail/%2fetc%2fpasswd',
    '/api/thumbnail/../../package.json',
  ];

  it.each(attempts)('%s is refused without reading outside the folder', async (path) => {
    const response = await rawGet(port(), path);
    expect([400, 404]).toContain(response.status);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(response.body.toString('utf8'));
    expect(Object.keys(body)).toEqual(['error']);
    expect(response.body.toString('utf8')).not.toMatch(/"id"|root:/);
  });

  it('predict_sample takes only listed sample names', async () => {
    for (const filename of ['../model/config.json', '/etc/passwd', '..%2fmodel%2fconfig.json', 'orange.jpg/..']) {
      const response = await fetch(`${server.base}/api/predict_sample?filename=${encodeURIComponent(filename)}`);
      expect(response.status, filename).toBe(404);
      expect(await errorOf(response)).toMatch(/no sample named/);
    }
  });
});
