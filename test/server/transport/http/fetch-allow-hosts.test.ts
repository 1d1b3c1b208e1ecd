/**
 * --fetch-allow-hosts and XCEPTION_FETCH_ALLOW_HOSTS as an operator sets them: the server's own process
 * (dist/server/main.js) parses its command line and environment, and GET /api/predict?fileurl= fetches from the
 * listed host and refuses another. fetch-url.test.ts covers the fetching itself; this covers the path from the flag.
 * localhost names the same file server as 127.0.0.1, so only the allow-list refuses it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { png } from '../../../support/images.js';
import { startServerProcess, type ServerProcess } from '../../../support/subprocess.js';
import { errorOf, startFileServer, type FileServer } from './helpers.js';

let files: FileServer;
/** Allows 127.0.0.1 by the flag, while its environment says localhost: the flag wins. */
let byFlag: ServerProcess;
/** Allows 127.0.0.1 by the environment alone. */
let byEnv: ServerProcess;

beforeAll(async () => {
  const image = await png(96, 96);
  files = await startFileServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'image/png' }).end(image);
  });
  const args = ['--http-port', '0', '--threads', '1'];
  [byFlag, byEnv] = await Promise.all([
    startServerProcess([...args, '--fetch-allow-hosts', '127.0.0.1'], { XCEPTION_FETCH_ALLOW_HOSTS: 'localhost' }),
    startServerProcess(args, { XCEPTION_FETCH_ALLOW_HOSTS: '127.0.0.1' }),
  ]);
});

afterAll(async () => {
  for (const server of [byFlag, byEnv]) {
    if (server === undefined) continue;
    server.child.kill('SIGTERM');
    await server.exited;
  }
  await files?.close();
});

/** The REST port, from the server's own log line announcing it. */
function httpPort(server: ServerProcess): number {
  const line = server.logs.find((entry) => String(entry.msg).startsWith('ModelHub REST API'));
  if (line === undefined) throw new Error('the server did not log its REST API port');
  return line.port as number;
}

/** Asks `server` to classify the file server's image, named through `host`; `tag` marks the request in its log. */
function predictFrom(server: ServerProcess, host: string, tag: string): Promise<Response> {
  const fileurl = `http://${host}:${files.port}/image.png?from=${tag}`;
  return fetch(`http://127.0.0.1:${httpPort(server)}/api/predict?fileurl=${encodeURIComponent(fileurl)}`);
}

async function expectFetched(response: Response, tag: string): Promise<void> {
  expect(response.status).toBe(200);
  expect((await response.json()).output[0].prediction).toHaveLength(1000);
  expect(files.requests).toContain(`/image.png?from=${tag}`);
}

async function expectRefused(response: Response, host: string, tag: string): Promise<void> {
  expect(response.status).toBe(400);
  expect(await errorOf(response)).toMatch(new RegExp(`host ${host}:${files.port} is not allowed`));
  expect(files.requests.some((path) => path.endsWith(`from=${tag}`))).toBe(false);
}

describe('--fetch-allow-hosts 127.0.0.1 (with XCEPTION_FETCH_ALLOW_HOSTS=localhost)', () => {
  it('fetches from 127.0.0.1', async () => {
    await expectFetched(await predictFrom(byFlag, '127.0.0.1', 'flag-allowed'), 'flag-allowed');
  });

  it('refuses localhost, named only by the variable the flag overrides, without contacting it', async () => {
    await expectRefused(await predictFrom(byFlag, 'localhost', 'flag-refused'), 'localhost', 'flag-refused');
  });
});

describe('XCEPTION_FETCH_ALLOW_HOSTS=127.0.0.1 alone', () => {
  it('fetches from 127.0.0.1', async () => {
    await expectFetched(await predictFrom(byEnv, '127.0.0.1', 'env-allowed'), 'env-allowed');
  });

  it('refuses localhost, without contacting it', async () => {
    await expectRefused(await predictFrom(byEnv, 'localhost', 'env-refused'), 'localhost', 'env-refused');
  });
});
