/**
 * TLS, mutual TLS and bearer tokens against real servers: one with mutual TLS and tokens, one plaintext with tokens
 * (where the client sends the token as a header, since grpc-js refuses call credentials without TLS).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Code, createModelClient, type ModelClient, type ModelClientOptions } from '../../src/client/index.js';
import { generateTestCerts, type TestCerts } from '../support/certs.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { failure } from '../support/client.js';

const TOKEN = 'client-test-token';
let certs: TestCerts;
let mtls: TestServer;
let plain: TestServer;
const clients: ModelClient[] = [];

beforeAll(async () => {
  certs = await generateTestCerts();
  const auth = ['--auth-tokens', TOKEN, '--threads', '1'];
  [mtls, plain] = await Promise.all([
    startTestServer([
      '--tls-cert',
      certs.server.cert,
      '--tls-key',
      certs.server.key,
      '--tls-client-ca',
      certs.ca.cert,
      '--instance-id',
      'mtls',
      ...auth,
    ]),
    startTestServer(['--instance-id', 'plain', ...auth]),
  ]);
});

afterAll(async () => {
  for (const client of clients) client.close();
  await Promise.all([mtls?.shutdown(500), plain?.shutdown(500)]);
  await certs?.remove();
});

function client(address: string, options: ModelClientOptions): ModelClient {
  const created = createModelClient(address, { retry: false, deadlineMs: 10_000, ...options });
  clients.push(created);
  return created;
}

/** Mutual TLS material: the CA as a path, the client's pair as contents; "localhost" is a name the certificate has. */
async function mtlsOptions(overrides: Partial<NonNullable<Exclude<ModelClientOptions['tls'], true>>> = {}) {
  return {
    ca: certs.ca.cert,
    cert: await certs.read(certs.client.cert),
    key: await certs.read(certs.client.key),
    serverName: 'localhost',
    ...overrides,
  };
}

describe('mutual TLS with a token', () => {
  it('calls through, the token going as call credentials', async () => {
    const secure = client(mtls.address, { tls: await mtlsOptions(), token: TOKEN });
    expect((await secure.getMetadata()).runtime?.instance).toBe('mtls');
    const results = [];
    for await (const result of secure.predictStream([
      { width: 299, height: 299, format: 'GRAY8', data: new Uint8Array(299 * 299) },
    ])) {
      results.push(result);
    }
    expect(results).toHaveLength(1);
    expect(results[0]!.error).toBeUndefined();
  });

  it('is UNAUTHENTICATED with a wrong token or none', async () => {
    const wrong = client(mtls.address, { tls: await mtlsOptions(), token: 'not-the-token' });
    expect((await failure(wrong.getMetadata())).code).toBe(Code.UNAUTHENTICATED);
    const none = client(mtls.address, { tls: await mtlsOptions() });
    expect((await failure(none.getMetadata())).codeName).toBe('UNAUTHENTICATED');
  });

  it('is UNAVAILABLE when the server cannot be verified: another CA, or another name', async () => {
    const otherCa = client(mtls.address, {
      tls: await mtlsOptions({ ca: await certs.read(certs.otherCa.cert) }),
      token: TOKEN,
    });
    expect((await failure(otherCa.getMetadata())).code).toBe(Code.UNAVAILABLE);
    const otherName = client(mtls.address, { tls: await mtlsOptions({ serverName: 'model.example' }), token: TOKEN });
    expect((await failure(otherName.getMetadata())).code).toBe(Code.UNAVAILABLE);
  });

  it('fails without a client certificate the server trusts', async () => {
    const anonymous = client(mtls.address, { tls: { ca: certs.ca.cert, serverName: 'localhost' }, token: TOKEN });
    const error = await failure(anonymous.getMetadata());
    expect(error.code).toBe(Code.UNAVAILABLE); // the TLS handshake fails: no connection
  });
});

describe('plaintext with a token', () => {
  it('sends the token as an authorization header', async () => {
    const withToken = client(plain.address, { token: TOKEN });
    expect((await withToken.getMetadata()).runtime?.instance).toBe('plain');
    const without = client(plain.address, {});
    expect((await failure(without.getMetadata())).code).toBe(Code.UNAUTHENTICATED);
    expect(await without.health()).toBe('SERVING'); // health needs no token
  });
});

describe('TLS options', () => {
  it('refuses unreadable PEM files and a certificate without its key, as INVALID_ARGUMENT', () => {
    expect(() => createModelClient('127.0.0.1:1', { tls: { ca: join(certs.dir, 'missing.pem') } })).toThrow(
      expect.objectContaining({ code: Code.INVALID_ARGUMENT, details: expect.stringMatching(/missing\.pem.*ENOENT/) }),
    );
    expect(() => createModelClient('127.0.0.1:1', { tls: { cert: certs.client.cert } })).toThrow(
      expect.objectContaining({ code: Code.INVALID_ARGUMENT }),
    );
  });
});
