/**
 * The HTTP side of --auth-tokens and --tls-cert: the API needs the same bearer tokens as gRPC, the page stays public,
 * and with a certificate the HTTP port speaks HTTPS. Certificates come from openssl at test time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { engineRuns } from '../../../support/engine-runs.js';
import { generateTestCerts, type TestCerts } from '../../../support/certs.js';
import { png } from '../../../support/images.js';
import { startHttpTestServer, type HttpTestServer } from './helpers.js';

const TOKEN = 'http-test-token';

let certs: TestCerts;
let ca: Buffer;
let server: HttpTestServer;

beforeAll(async () => {
  certs = await generateTestCerts();
  ca = await certs.read(certs.ca.cert);
  server = await startHttpTestServer([
    '--auth-tokens',
    TOKEN,
    '--tls-cert',
    certs.server.cert,
    '--tls-key',
    certs.server.key,
  ]);
});

afterAll(async () => {
  await server?.shutdown(1000);
  await certs?.remove();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** An HTTPS request that trusts the test CA (fetch cannot be given a CA without an extra package). */
function call(
  path: string,
  options: { token?: string; method?: string; body?: Buffer; contentType?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    if (options.contentType) headers['content-type'] = options.contentType;
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port: server.httpPort,
        path,
        method: options.method ?? 'GET',
        ca,
        headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

async function multipart(bytes: Buffer): Promise<{ body: Buffer; contentType: string }> {
  const form = new FormData();
  form.append('file', new Blob([bytes]), 'x.png');
  const encoded = new Response(form);
  return { body: Buffer.from(await encoded.arrayBuffer()), contentType: encoded.headers.get('content-type')! };
}

describe('bearer tokens on the REST API', () => {
  it('an API call without a token is 401 {"error"} with WWW-Authenticate: Bearer', async () => {
    const answer = await call('/api/get_config');
    expect(answer.status).toBe(401);
    expect(answer.headers['www-authenticate']).toBe('Bearer');
    expect(JSON.parse(answer.body)).toEqual({ error: 'missing bearer token' });
  });

  it('a wrong token is 401 too', async () => {
    const answer = await call('/api/get_model_io', { token: 'not-the-token' });
    expect(answer.status).toBe(401);
    expect(JSON.parse(answer.body)).toEqual({ error: 'invalid bearer token' });
  });

  it('the right token opens the API', async () => {
    const answer = await call('/api/get_model_io', { token: TOKEN });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toHaveProperty('input');
  });

  it('a refused predict never reaches the engine', async () => {
    const before = await engineRuns(server);
    const { body, contentType } = await multipart(await png(64, 64));
    const refused = await call('/api/predict', { method: 'POST', body, contentType });
    expect(refused.status).toBe(401);
    expect(await engineRuns(server)).toBe(before);
    const accepted = await call('/api/predict', { method: 'POST', body, contentType, token: TOKEN });
    expect(accepted.status).toBe(200);
    expect(JSON.parse(accepted.body).output[0].prediction).toHaveLength(1000);
  });

  it('the page and its static files stay public; nothing else does, however the path is spelled', async () => {
    for (const path of ['/', '/app.js', '/style.css']) {
      expect((await call(path)).status, path).toBe(200);
    }
    for (const path of [
      '//api/get_config',
      '/API/get_config',
      '/./api/get_config',
      '/no-such-page',
      '/app.js/../api/get_config',
    ]) {
      expect((await call(path)).status, path).toBe(401);
    }
  });
});

describe('HTTPS with --tls-cert', () => {
  it('serves over TLS and lists sample URLs with https://', async () => {
    const answer = await call('/api/get_samples', { token: TOKEN });
    expect(answer.status).toBe(200);
    const urls = JSON.parse(answer.body) as string[];
    expect(urls[0]).toMatch(new RegExp(`^https://127\\.0\\.0\\.1:${server.httpPort}/api/samples/`));
  });

  it('refuses plaintext HTTP on the TLS port: the connection is closed without a byte of answer', async () => {
    // With a valid token, so that a server answering plaintext at all would answer 200 with the config.
    const reply = await new Promise<{ bytes: Buffer; error?: Error }>((resolve) => {
      const socket = connect(server.httpPort!, '127.0.0.1', () => {
        socket.write(
          `GET /api/get_config HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\nConnection: close\r\n\r\n`,
        );
      });
      const chunks: Buffer[] = [];
      let error: Error | undefined;
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', (e) => {
        error = e;
      });
      socket.on('close', () => resolve({ bytes: Buffer.concat(chunks), error }));
    });
    // Node's TLS server drops a connection that does not start with a TLS handshake (no 400: it speaks no HTTP before
    // the handshake); the client sees the close, possibly as a reset.
    expect(reply.bytes.toString('latin1')).toBe('');
    expect([undefined, 'ECONNRESET']).toContain((reply.error as NodeJS.ErrnoException | undefined)?.code);
  });
});
