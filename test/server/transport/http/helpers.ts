/** Shared by the HTTP tests: a server with --http-port, raw requests that keep their path as written, a file server. */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { closeServer, listenOnLoopback } from '../../../support/ports.js';
import { startTestServer, type TestServer } from '../../../support/server.js';

export interface HttpTestServer extends TestServer {
  /** http://127.0.0.1:PORT */
  readonly base: string;
}

export async function startHttpTestServer(args: string[] = []): Promise<HttpTestServer> {
  const server = await startTestServer(['--threads', '2', '--http-port', '0', ...args]);
  return { ...server, base: `http://127.0.0.1:${server.httpPort}` };
}

export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

/** GET with the path sent byte for byte: fetch would resolve `../` and re-encode before the server saw it. */
export function rawGet(port: number, path: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export function upload(
  base: string,
  bytes: Uint8Array,
  options: { field?: string; filename?: string; type?: string } = {},
): Promise<Response> {
  const form = new FormData();
  form.append(
    options.field ?? 'file',
    new Blob([bytes], { type: options.type ?? 'application/octet-stream' }),
    options.filename ?? 'image.png',
  );
  return fetch(`${base}/api/predict`, { method: 'POST', body: form });
}

/** The {"error"} body of a refusal, checking its shape on the way. */
export async function errorOf(response: Response): Promise<string> {
  expectJson(response);
  const body = (await response.json()) as Record<string, unknown>;
  if (Object.keys(body).length !== 1 || typeof body.error !== 'string' || body.error === '') {
    throw new Error(`expected {"error": "..."}, got ${JSON.stringify(body)}`);
  }
  return body.error;
}

function expectJson(response: Response): void {
  const type = response.headers.get('content-type') ?? '';
  if (!type.startsWith('application/json')) throw new Error(`expected JSON, got ${type}`);
}

export interface FileServer {
  readonly port: number;
  /** Requests it has answered, by path. */
  readonly requests: string[];
  close(): Promise<void>;
}

/** A plain HTTP server on 127.0.0.1 for ?fileurl= tests. */
export async function startFileServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<FileServer> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    handler(req, res);
  });
  const port = await listenOnLoopback(server);
  return {
    port,
    requests,
    close: () => {
      server.closeAllConnections();
      return closeServer(server);
    },
  };
}
