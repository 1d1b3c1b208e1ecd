/**
 * GET /api/predict?fileurl=: refused unless the host is allow-listed (no SSRF), only http/https, no redirects to
 * other hosts, size- and time-limited. A real file server on 127.0.0.1 plays the remote host.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../../src/server/observability/logger.js';
import { isAllowedHost, parseFileUrl } from '../../../../src/server/transport/http/fetch-url.js';
import { startHttpServer, type HttpServer } from '../../../../src/server/transport/http/server.js';
import { gif, png } from '../../../support/images.js';
import { errorOf, startFileServer, startHttpTestServer, type FileServer, type HttpTestServer } from './helpers.js';

const MAX_BYTES = 65_536;

let server: HttpTestServer;
/** A second HTTP front on the same service, allowed to fetch from 127.0.0.1. */
let allowing: HttpServer;
let files: FileServer;
let image: Buffer;

beforeAll(async () => {
  image = await png(96, 96);
  const gifBytes = await gif(64, 64);
  files = await startFileServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    switch (url.pathname) {
      case '/image.png':
        res.writeHead(200, { 'content-type': 'image/png' }).end(image);
        break;
      case '/image.gif':
        res.writeHead(200, { 'content-type': 'image/gif' }).end(gifBytes);
        break;
      case '/same-host':
        res.writeHead(302, { location: '/image.png' }).end();
        break;
      case '/other-host':
        res.writeHead(302, { location: `http://localhost:${files.port}/image.png` }).end();
        break;
      case '/loop':
        res.writeHead(302, { location: '/loop' }).end();
        break;
      case '/big':
        res.writeHead(200, { 'content-length': String(MAX_BYTES + 1) }).end(Buffer.alloc(MAX_BYTES + 1));
        break;
      case '/big-chunked':
        res.writeHead(200, { 'content-type': 'image/png' });
        for (let i = 0; i < 5; i++) res.write(Buffer.alloc(MAX_BYTES / 4, 1));
        res.end();
        break;
      case '/hang':
        res.writeHead(200, { 'content-type': 'image/png' });
        res.write(image.subarray(0, 16));
        break;
      default:
        res.writeHead(404).end('not here');
    }
  });
  server = await startHttpTestServer();
  const service = await server.ready;
  allowing = await startHttpServer(
    { service: () => service, logger: createLogger('silent'), metrics: server.metrics, instance: 'allowing' },
    { host: '127.0.0.1', port: 0, maxMessageBytes: MAX_BYTES, fetchAllowHosts: ['127.0.0.1'], fetchTimeoutMs: 1000 },
  );
});

afterAll(async () => {
  allowing?.forceClose();
  await allowing?.close();
  await server?.shutdown(1000);
  await files?.close();
});

const fileUrl = (path: string, host = '127.0.0.1') => `http://${host}:${files.port}${path}`;
const predictUrl = (base: string, url: string) => fetch(`${base}/api/predict?fileurl=${encodeURIComponent(url)}`);
const allowedBase = () => `http://127.0.0.1:${allowing.port}`;

describe('without --fetch-allow-hosts', () => {
  it('refuses every fileurl with 400 and fetches nothing', async () => {
    const before = files.requests.length;
    const response = await predictUrl(server.base, fileUrl('/image.png'));
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/fetching by URL is disabled/);
    expect(files.requests.length).toBe(before);
  });
});

describe('with 127.0.0.1 allow-listed', () => {
  it('fetches and classifies an image from the allowed host', async () => {
    const response = await predictUrl(allowedBase(), fileUrl('/image.png'));
    expect(response.status).toBe(200);
    const answer = await response.json();
    expect(answer.output[0].prediction).toHaveLength(1000);
    expect(answer.model.name).toBe('xception');
    expect(files.requests).toContain('/image.png');
  });

  it('the answer equals that of uploading the same bytes', async () => {
    const fetched = await (await predictUrl(allowedBase(), fileUrl('/image.png'))).json();
    const form = new FormData();
    form.append('file', new Blob([image]), 'image.png');
    const uploaded = await (await fetch(`${allowedBase()}/api/predict`, { method: 'POST', body: form })).json();
    expect(fetched.output).toEqual(uploaded.output);
  });

  it('refuses another host, without contacting it', async () => {
    const before = files.requests.length;
    const response = await predictUrl(allowedBase(), fileUrl('/image.png', 'localhost'));
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/host localhost:\d+ is not allowed/);
    expect(files.requests.length).toBe(before);
  });

  it.each([
    ['file:///etc/passwd', /must be http or https/],
    ['ftp://127.0.0.1/image.png', /must be http or https/],
    ['data:image/png;base64,iVBORw0KGgo=', /must be http or https/],
    ['not a url', /not an absolute URL/],
    ['http://user:secret@127.0.0.1/image.png', /credentials/],
  ])('refuses %s', async (url, message) => {
    const response = await predictUrl(allowedBase(), url);
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(message);
  });

  it('follows a redirect within the same host', async () => {
    const response = await predictUrl(allowedBase(), fileUrl('/same-host'));
    expect(response.status).toBe(200);
  });

  it('does not follow a redirect to another host', async () => {
    const before = files.requests.length;
    const response = await predictUrl(allowedBase(), fileUrl('/other-host'));
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/redirected to another host/);
    expect(files.requests.slice(before)).toEqual(['/other-host']);
  });

  it('stops after a few redirects', async () => {
    const response = await predictUrl(allowedBase(), fileUrl('/loop'));
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/redirected more than 3 times/);
  });

  it('refuses a file over the size limit, declared or streamed', async () => {
    for (const path of ['/big', '/big-chunked']) {
      const response = await predictUrl(allowedBase(), fileUrl(path));
      expect(response.status, path).toBe(400);
      expect(await errorOf(response)).toMatch(/larger than the limit of 65536 bytes/);
    }
  });

  it('passes on the remote error, a refused connection and a timeout as 400 {"error"}', async () => {
    const missing = await predictUrl(allowedBase(), fileUrl('/missing.png'));
    expect(missing.status).toBe(400);
    expect(await errorOf(missing)).toMatch(/answered HTTP 404/);

    const closed = await startFileServer(() => {});
    const closedUrl = `http://127.0.0.1:${closed.port}/image.png`;
    await closed.close();
    const refused = await predictUrl(allowedBase(), closedUrl);
    expect(refused.status).toBe(400);
    expect(await errorOf(refused)).toMatch(/could not fetch fileurl/);

    const hanging = await predictUrl(allowedBase(), fileUrl('/hang'));
    expect(hanging.status).toBe(400);
    expect(await errorOf(hanging)).toMatch(/timed out after 1 s/);
  });

  it('a fetched GIF is refused like an uploaded one', async () => {
    const response = await predictUrl(allowedBase(), fileUrl('/image.gif'));
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/unsupported image format GIF/);
  });
});

describe('the allow-list', () => {
  it('matches a host name at any port, or one host:port; case-insensitive; IPv6 with or without brackets', () => {
    const allow = ['Images.Example.com', '10.0.0.5:8080', '::1'];
    expect(isAllowedHost(new URL('https://images.example.com/a.png'), allow)).toBe(true);
    expect(isAllowedHost(new URL('http://IMAGES.example.com:9000/a.png'), allow)).toBe(true);
    expect(isAllowedHost(new URL('http://10.0.0.5:8080/a.png'), allow)).toBe(true);
    expect(isAllowedHost(new URL('http://10.0.0.5:8081/a.png'), allow)).toBe(false);
    expect(isAllowedHost(new URL('http://[::1]:3000/a.png'), allow)).toBe(true);
    expect(isAllowedHost(new URL('http://example.com/a.png'), allow)).toBe(false);
    expect(isAllowedHost(new URL('http://images.example.com.evil.net/a.png'), allow)).toBe(false);
    expect(isAllowedHost(new URL('http://evil.net/images.example.com'), allow)).toBe(false);
  });

  it('numeric spellings of an address are normalised before matching; look-alike names do not match', () => {
    // WHATWG URL parsing turns 2130706433 into 127.0.0.1, so the check sees the address a resolver would use.
    expect(parseFileUrl('http://2130706433/a.png', ['127.0.0.1']).hostname).toBe('127.0.0.1');
    expect(() => parseFileUrl('http://127.0.0.1.nip.io/a.png', ['127.0.0.1'])).toThrow(/not allowed/);
  });
});
