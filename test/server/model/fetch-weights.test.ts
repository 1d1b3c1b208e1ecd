import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fetchWeights,
  FetchWeightsError,
  XCEPTION_WEIGHTS_MD5,
  XCEPTION_WEIGHTS_URL,
  type DownloadProgress,
} from '../../../src/server/model/fetch-weights.js';
import { closeServer, listenOnLoopback, unusedPort } from '../../support/ports.js';
import { downloadProgress } from '../../../src/cli/download-progress.js';

const body = randomBytes(300_000);
const bodyMd5 = createHash('md5').update(body).digest('hex');
let server: Server;
let baseUrl: string;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xception-fetch-'));
  server = createServer((request, response) => {
    if (request.url === '/weights.h5') {
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      // Several writes, so the client sees the body arrive in chunks.
      for (let i = 0; i < body.length; i += 64 * 1024) response.write(body.subarray(i, i + 64 * 1024));
      response.end();
    } else {
      response.writeHead(404).end('not here');
    }
  });
  baseUrl = `http://127.0.0.1:${await listenOnLoopback(server)}`;
});
afterAll(async () => {
  await closeServer(server);
  await rm(dir, { recursive: true, force: true });
});

describe('fetchWeights', () => {
  it("defaults to Keras' Xception weights and checksum", () => {
    expect(XCEPTION_WEIGHTS_URL).toBe(
      'https://storage.googleapis.com/tensorflow/keras-applications/xception/xception_weights_tf_dim_ordering_tf_kernels.h5',
    );
    expect(XCEPTION_WEIGHTS_MD5).toBe('0a58e3b7378bc2990ea3b43d5981f1f6');
  });

  it('downloads, verifies and renames into place, reporting progress', async () => {
    const dest = join(dir, 'ok', 'model', 'model.h5');
    const progress: DownloadProgress[] = [];
    const result = await fetchWeights({
      url: `${baseUrl}/weights.h5`,
      md5: bodyMd5,
      dest,
      onProgress: (p) => progress.push(p),
    });
    expect(result).toEqual({ path: dest, bytes: body.length, md5: bodyMd5 });
    expect((await readFile(dest)).equals(body)).toBe(true);
    expect(existsSync(`${dest}.partial`)).toBe(false);
    expect(progress.at(-1)).toEqual({ receivedBytes: body.length, totalBytes: body.length, done: true });
    expect(progress.filter((p) => !p.done).length).toBeGreaterThan(0);
    const received = progress.map((p) => p.receivedBytes);
    expect(received).toEqual([...received].sort((a, b) => a - b));
  });

  it('rejects a download whose MD5 differs, leaving neither the file nor a partial', async () => {
    const dest = join(dir, 'bad-md5', 'model.h5');
    const wrong = '0'.repeat(32);
    const error = await fetchWeights({ url: `${baseUrl}/weights.h5`, md5: wrong, dest }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FetchWeightsError);
    expect((error as Error).message).toContain(`expected MD5 ${wrong}`);
    expect((error as Error).message).toContain(bodyMd5);
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.partial`)).toBe(false);
  });

  it('says the host could not be reached, and how to place the file by hand, when the connection is refused', async () => {
    const port = await unusedPort();

    const dest = join(dir, 'refused', 'model.h5');
    const url = `http://127.0.0.1:${port}/weights.h5`;
    const error = await fetchWeights({ url, dest }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FetchWeightsError);
    expect((error as Error).message).toMatch(new RegExp(`^could not reach 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
    expect((error as Error).message).toContain(`download ${url}`);
    expect((error as Error).message).toContain(`copy it to ${dest}`);
    expect(existsSync(dest)).toBe(false);
  });

  it('reports an HTTP error status', async () => {
    const dest = join(dir, 'missing', 'model.h5');
    await expect(fetchWeights({ url: `${baseUrl}/nothing.h5`, dest })).rejects.toThrow(
      `${baseUrl}/nothing.h5 answered HTTP 404 Not Found`,
    );
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.partial`)).toBe(false);
  });

  it('stops when aborted', async () => {
    const dest = join(dir, 'aborted', 'model.h5');
    await expect(
      fetchWeights({ url: `${baseUrl}/weights.h5`, md5: bodyMd5, dest, signal: AbortSignal.abort() }),
    ).rejects.toThrow(/abort/i);
    expect(existsSync(dest)).toBe(false);
  });
});

describe('downloadProgress', () => {
  function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; output: () => string } {
    const stream = new PassThrough() as unknown as NodeJS.WriteStream;
    Object.assign(stream, { isTTY, columns: 100 });
    const chunks: Buffer[] = [];
    (stream as unknown as PassThrough).on('data', (chunk: Buffer) => chunks.push(chunk));
    return { stream, output: () => Buffer.concat(chunks).toString('utf8') };
  }

  it('stays quiet when the output is not a terminal', () => {
    const { stream, output } = fakeStream(false);
    const onProgress = downloadProgress(stream);
    onProgress({ receivedBytes: 10, totalBytes: 100, done: false });
    onProgress({ receivedBytes: 100, totalBytes: 100, done: true });
    expect(output()).toBe('');
  });

  it('draws a bar on a terminal and stops when done', () => {
    const { stream, output } = fakeStream(true);
    const onProgress = downloadProgress(stream);
    onProgress({ receivedBytes: 44_000_000, totalBytes: 88_000_000, done: false });
    onProgress({ receivedBytes: 88_000_000, totalBytes: 88_000_000, done: true });
    expect(output()).toContain('downloading');
    expect(output()).toContain('88.0/88.0 MB');
    expect(output()).toContain('100%');
  });
});
