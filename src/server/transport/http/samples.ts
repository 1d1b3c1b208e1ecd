/**
 * Sample images and the thumbnail: GET /api/get_samples, /api/samples/<name>, /api/thumbnail/<name>.
 * A name is served only if it is one of the files listed in the folder: the name is looked up, never joined into a
 * path unchecked, so `../`, encoded or not, and absolute paths find nothing.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { readFile, readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { Contrib } from '../../contrib.js';
import { Code, ServiceError, invalidArgument } from '../../errors.js';
import { requireService, type TransportContext } from '../../core/transport-context.js';

const CONTENT_TYPES: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg' };
const THUMBNAIL = /^thumbnail\.(png|jpe?g)$/i;

export function contentTypeOf(name: string): string {
  return CONTENT_TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';
}

/** A sample's bytes, if `name` is one of contrib_src/sample_data's listed files. */
export async function readSample(contrib: Contrib, name: string): Promise<Buffer> {
  if (!contrib.sampleFiles.includes(name)) {
    throw new ServiceError(Code.NOT_FOUND, `no sample named ${JSON.stringify(name)}; GET /api/get_samples lists them`);
  }
  return readFile(join(contrib.dir, 'sample_data', name));
}

async function thumbnailNames(contrib: Contrib): Promise<string[]> {
  const names = await readdir(join(contrib.dir, 'model'), { withFileTypes: true }).catch(() => []);
  return names.filter((entry) => entry.isFile() && THUMBNAIL.test(entry.name)).map((entry) => entry.name);
}

/**
 * The scheme and host the caller used, for absolute URLs as ModelHub builds them. The Host header is the caller's
 * own; anything that is not a plain host[:port] falls back to the address the request came in on.
 */
export function baseUrl(request: FastifyRequest): string {
  const host = /^[A-Za-z0-9.\-_]+(:\d+)?$|^\[[0-9A-Fa-f:.]+\](:\d+)?$/.test(request.host)
    ? request.host
    : `${request.socket.localFamily === 'IPv6' ? `[${request.socket.localAddress}]` : request.socket.localAddress}:${request.socket.localPort}`;
  return `${request.protocol}://${host}`;
}

function sendImage(reply: FastifyReply, name: string, bytes: Buffer): FastifyReply {
  return reply.type(contentTypeOf(name)).header('cache-control', 'public, max-age=3600').send(bytes);
}

export function sampleRoutes(app: FastifyInstance, context: TransportContext): void {
  app.get('/api/get_samples', async (request) => {
    const { contrib } = requireService(context).runtime;
    const base = baseUrl(request);
    return contrib.sampleFiles.map((name) => `${base}/api/samples/${encodeURIComponent(name)}`);
  });

  app.get<{ Params: { name: string } }>('/api/samples/:name', async (request, reply) => {
    const { contrib } = requireService(context).runtime;
    return sendImage(reply, request.params.name, await readSample(contrib, request.params.name));
  });

  app.get<{ Params: { name: string } }>('/api/thumbnail/:name', async (request, reply) => {
    const { contrib } = requireService(context).runtime;
    const { name } = request.params;
    if (!(await thumbnailNames(contrib)).includes(name)) {
      throw new ServiceError(Code.NOT_FOUND, `no thumbnail named ${JSON.stringify(name)}`);
    }
    return sendImage(reply, name, await readFile(join(contrib.dir, 'model', name)));
  });
}

/** ?filename= of predict_sample, as ModelHub names it. */
export function sampleNameOf(query: { filename?: unknown }): string {
  if (typeof query.filename !== 'string' || query.filename === '') {
    throw invalidArgument(
      'GET /api/predict_sample needs ?filename=<name of a sample> (GET /api/get_samples lists them)',
    );
  }
  return query.filename;
}
