/**
 * A weights download cut off midway, by fetchWeights() and by `xception fetch-weights` in its own process: the server
 * sends half the body and destroys the socket. Nothing may be left but the model.h5 that was there before, unchanged.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchWeights, FetchWeightsError } from '../../../src/server/model/fetch-weights.js';
import { closeServer, listenOnLoopback } from '../../support/ports.js';
import { CLI_MAIN, runCommand } from '../../support/subprocess.js';

const body = randomBytes(400_000);
const half = body.length / 2;
const bodyMd5 = createHash('md5').update(body).digest('hex');
const oldWeights = randomBytes(50_000);

let server: Server;
let host: string;
let dir: string;
/** Resolves when the server may cut the connection, its half of the body sent; set per test. */
let cutWhen: () => Promise<void> = async () => {};

function sendHalfThenCut(response: ServerResponse, request: IncomingMessage, headers: Record<string, number>): void {
  response.writeHead(200, { 'content-type': 'application/octet-stream', ...headers });
  response.write(body.subarray(0, half), () => {
    void cutWhen().then(() => request.socket.destroy());
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xception-fetch-cut-'));
  server = createServer((request, response) => {
    // With Content-Length the body is short; without it (chunked), the terminating chunk never comes.
    if (request.url === '/with-length.h5') sendHalfThenCut(response, request, { 'content-length': body.length });
    else if (request.url === '/chunked.h5') sendHalfThenCut(response, request, {});
    else response.writeHead(404).end();
  });
  host = `127.0.0.1:${await listenOnLoopback(server)}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await closeServer(server);
  await rm(dir, { recursive: true, force: true });
});

/** A model directory holding the weights of an earlier download. */
async function modelDirWithOldWeights(name: string): Promise<string> {
  const modelDir = join(dir, name, 'model');
  await mkdir(modelDir, { recursive: true });
  await writeFile(join(modelDir, 'model.h5'), oldWeights);
  return modelDir;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function expectOnlyTheOldWeights(modelDir: string): Promise<void> {
  expect(await readdir(modelDir)).toEqual(['model.h5']);
  expect(sha256(await readFile(join(modelDir, 'model.h5'))), 'model.h5 changed').toBe(sha256(oldWeights));
}

/** Resolves once `received()` reaches `bytes`, polling. */
async function until(received: () => number, bytes: number): Promise<void> {
  while (received() < bytes) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe('fetchWeights cut off midway', () => {
  it.each(['with-length', 'chunked'])(
    '(%s) fails, leaving no partial file and the old model.h5 as it was',
    async (route) => {
      const modelDir = await modelDirWithOldWeights(route);
      const dest = join(modelDir, 'model.h5');
      let received = 0;
      // The cut comes once the client holds the whole first half: mid-download, not before it began.
      cutWhen = () => until(() => received, half);
      const error = await fetchWeights({
        url: `http://${host}/${route}.h5`,
        md5: bodyMd5,
        dest,
        onProgress: (progress) => {
          received = progress.receivedBytes;
        },
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FetchWeightsError);
      expect((error as Error).message).toMatch(
        new RegExp(`^download from ${host} broke off after ${half} bytes \\(.+\\); run it again\\.`),
      );
      await expectOnlyTheOldWeights(modelDir);
    },
  );
});

describe('xception fetch-weights cut off midway', () => {
  it('exits 1 with one line, leaving no partial file and the old model.h5 as it was', async () => {
    const modelDir = await modelDirWithOldWeights('cli');
    const dest = join(modelDir, 'model.h5');
    cutWhen = async () => {};
    const run = await runCommand(
      process.execPath,
      [CLI_MAIN, 'fetch-weights', '--url', `http://${host}/with-length.h5`, '--md5', bodyMd5, '--dest', dest],
      { cwd: dir },
    );
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(
      new RegExp(`^xception: fetch-weights: download from ${host} broke off after \\d+ bytes [^\\n]+\\n$`),
    );
    await expectOnlyTheOldWeights(modelDir);
  });
});
