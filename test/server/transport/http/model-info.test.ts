/** ModelHub's descriptive routes, the page's metadata, the model-files ZIP and the static page, over real HTTP. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { createLogger } from '../../../../src/server/observability/logger.js';
import { Metrics } from '../../../../src/server/observability/metrics.js';
import { startHttpServer } from '../../../../src/server/transport/http/server.js';
import { errorOf, startHttpTestServer, type HttpTestServer } from './helpers.js';

let server: HttpTestServer;
let contribDir: string;

beforeAll(async () => {
  server = await startHttpTestServer(['--instance-id', 'http-test-1']);
  contribDir = server.config.contribDir;
});

afterAll(async () => {
  await server?.shutdown(1000);
});

const get = (path: string) => fetch(`${server.base}${path}`);

/** Entries of a ZIP from its central directory; checks each local header agrees. */
function readZip(zip: Buffer): { name: string; data: Buffer; crc: number; method: number }[] {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  expect(end).toBe(zip.length - 22);
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const entries = [];
  for (let i = 0; i < count; i++) {
    expect(zip.readUInt32LE(at)).toBe(0x02014b50);
    const method = zip.readUInt16LE(at + 10);
    const crc = zip.readUInt32LE(at + 16);
    const size = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const offset = zip.readUInt32LE(at + 42);
    const name = zip.subarray(at + 46, at + 46 + nameLength).toString('utf8');
    expect(zip.readUInt32LE(offset)).toBe(0x04034b50);
    expect(zip.readUInt32LE(offset + 14)).toBe(crc);
    const localNameLength = zip.readUInt16LE(offset + 26);
    const dataStart = offset + 30 + localNameLength + zip.readUInt16LE(offset + 28);
    entries.push({ name, data: zip.subarray(dataStart, dataStart + size), crc, method });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

describe('ModelHub descriptive routes', () => {
  it('GET /api/get_config answers config.json byte for byte', async () => {
    const response = await get('/api/get_config');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.text()).toBe(await readFile(join(contribDir, 'model', 'config.json'), 'utf8'));
  });

  it('GET /api/get_model_io answers {input, output} from the config', async () => {
    const response = await get('/api/get_model_io');
    expect(response.status).toBe(200);
    const config = JSON.parse(await readFile(join(contribDir, 'model', 'config.json'), 'utf8'));
    const io = await response.json();
    expect(Object.keys(io).sort()).toEqual(['input', 'output']);
    expect(io).toEqual(config.model.io);
  });

  it('GET /api/get_legal answers the four texts, crediting ModelHub and naming its MIT license', async () => {
    const response = await get('/api/get_legal');
    expect(response.status).toBe(200);
    const legal = await response.json();
    expect(Object.keys(legal).sort()).toEqual([
      'model_license',
      'modelhub_acknowledgements',
      'modelhub_license',
      'sample_data_license',
    ]);
    expect(legal.modelhub_license).toMatch(/ModelHub/);
    expect(legal.modelhub_license).toMatch(/MIT License/);
    expect(legal.modelhub_acknowledgements).toMatch(/ModelHub/);
    expect(legal.model_license).toBe(await readFile(join(contribDir, 'license', 'model'), 'utf8'));
    expect(legal.sample_data_license).toBe(await readFile(join(contribDir, 'license', 'sample_data'), 'utf8'));
  });

  it('GET /api/metadata tells the page the model, engine, backend and whether the weights are pretrained', async () => {
    const response = await get('/api/metadata');
    expect(response.status).toBe(200);
    const meta = await response.json();
    expect(meta).toMatchObject({
      id: 'dbf35840-9c8d-408f-8a36-b9fe2f8e5546',
      name: 'xception',
      task: 'Classification',
      top: 5,
      classes: 1000,
      engine: 'onnx',
      pretrained: false,
      instance: 'http-test-1',
      maxMessageBytes: server.config.maxMessageBytes,
    });
    expect(meta.backend).toEqual(expect.any(String));
    expect(meta.threads).toBe(2);
    expect(meta.weights).toMatchObject({
      format: expect.any(String),
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      seed: 0,
    });
    expect(meta.samples).toEqual((await server.ready).metadata().sampleFiles);
  });

  it('GET /api/get_model_files answers the model/ folder as a valid ZIP, entries under model/', async () => {
    const response = await get('/api/get_model_files');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/zip');
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="xception_model.zip"');
    const zip = Buffer.from(await response.arrayBuffer());
    expect(Number(response.headers.get('content-length'))).toBe(zip.length);
    const entries = readZip(zip);
    expect(entries.map((e) => e.name)).toEqual(
      expect.arrayContaining(['model/config.json', 'model/labels.json', 'model/thumbnail.jpg']),
    );
    for (const entry of entries) {
      const onDisk = await readFile(join(contribDir, entry.name));
      expect(entry.method).toBe(0);
      expect(entry.data.equals(onDisk)).toBe(true);
      expect(entry.crc).toBe(crc32(onDisk));
    }
  });

  it('GET /api/get_model_files opens with a reader we did not write: python3 zipfile checks every CRC', async () => {
    const zip = Buffer.from(await (await get('/api/get_model_files')).arrayBuffer());
    const script = [
      'import hashlib, io, json, sys, zipfile',
      'archive = zipfile.ZipFile(io.BytesIO(sys.stdin.buffer.read()))',
      'print(json.dumps({"bad": archive.testzip(), "files": {i.filename: hashlib.sha256(archive.read(i)).hexdigest() for i in archive.infolist()}}))',
    ].join('\n');
    const read = JSON.parse(execFileSync('python3', ['-c', script], { input: zip, encoding: 'utf8' }));
    expect(read.bad).toBeNull();
    expect(Object.keys(read.files)).toEqual(
      expect.arrayContaining(['model/config.json', 'model/labels.json', 'model/thumbnail.jpg']),
    );
    for (const [name, sha256] of Object.entries(read.files)) {
      expect(sha256, name).toBe(
        createHash('sha256')
          .update(await readFile(join(contribDir, name)))
          .digest('hex'),
      );
    }
  });
});

describe('the HTTP surface', () => {
  it('every API answer says which replica answered, and a request id', async () => {
    const response = await get('/api/get_model_io');
    expect(response.headers.get('x-request-id')).toMatch(/.+/);
    const prediction = await get('/api/predict_sample?filename=orange.jpg');
    expect(prediction.headers.get('x-instance')).toBe('http-test-1');
  });

  it('an unknown route is 404 with an {"error"} body', async () => {
    const response = await get('/api/no_such_route');
    expect(response.status).toBe(404);
    expect(await errorOf(response)).toMatch(/no route GET \/api\/no_such_route/);
  });

  it('serves the page, its script and stylesheet with a same-origin content security policy', async () => {
    const page = await get('/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await page.text();
    expect(html).toMatch(/<script type="module" src="\/app.js">/);
    const script = await get('/app.js');
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const style = await get('/style.css');
    expect(style.status).toBe(200);
    expect(style.headers.get('content-type')).toBe('text/css; charset=utf-8');
  });
});

describe('before the model is loaded', () => {
  it('API routes answer 503 with Retry-After and an {"error"}, while the page is served', async () => {
    const logger = createLogger('silent');
    const http = await startHttpServer(
      { service: () => undefined, logger, metrics: new Metrics(), instance: 'loading' },
      { host: '127.0.0.1', port: 0, maxMessageBytes: 1 << 20, fetchAllowHosts: [] },
    );
    try {
      const base = `http://127.0.0.1:${http.port}`;
      for (const path of [
        '/api/get_config',
        '/api/metadata',
        '/api/get_samples',
        '/api/predict_sample?filename=orange.jpg',
      ]) {
        const response = await fetch(`${base}${path}`);
        expect(response.status, path).toBe(503);
        expect(response.headers.get('retry-after')).toBe('1');
        expect(await errorOf(response)).toMatch(/still loading/);
      }
      expect((await fetch(`${base}/`)).status).toBe(200);
    } finally {
      await http.close();
    }
  });
});
