/**
 * Bearer tokens over real gRPC: refused calls get UNAUTHENTICATED before any handler work (the engine run count and
 * the handler's call metrics prove it), health stays open, reflection is open only with --public-reflection, and the
 * refusal log never holds the token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  PixelFormat,
  type ModelServiceClient,
  type PredictRequest,
  type PredictResponse,
} from '../../../src/gen/modelhub/v1/model_service.js';
import { parseServerConfig } from '../../../src/server/config.js';
import { createLogger } from '../../../src/server/observability/logger.js';
import { startServer, type RunningServer } from '../../../src/server/server.js';
import { engineRuns } from '../../support/engine-runs.js';
import { dynamicClient, healthClient, REFLECTION_PROTO_DIR, settled, unary } from '../../support/grpc.js';
import { rgbPixels } from '../../support/images.js';
import { modelClient, startTestServer, type TestServer } from '../../support/server.js';
import { runStream, type StreamOutcome } from '../../support/stream.js';

const LIST_TOKENS = ['list-token-alpha', 'list-token-beta-0123456789'];
const FILE_TOKEN = 'file-token-from-the-file';
const COMMENTED_TOKEN = 'commented-out-token';

let dir: string;
let server: RunningServer;
let address: string;
let client: ModelServiceClient;
const logLines: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xception-auth-'));
  const tokenFile = join(dir, 'tokens');
  await writeFile(tokenFile, `# tokens of the test\n\n${FILE_TOKEN}\n# ${COMMENTED_TOKEN}\n`);
  const config = parseServerConfig(
    [
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--log-level',
      'info',
      '--threads',
      '2',
      '--auth-token-file',
      tokenFile,
      '--auth-tokens',
      LIST_TOKENS.join(','),
    ],
    {},
  );
  server = await startServer(
    config,
    createLogger(config.logLevel, {
      write: (line: string) => {
        logLines.push(line);
      },
    }),
  );
  await server.ready;
  address = `127.0.0.1:${server.port}`;
  client = modelClient(address);
});

afterAll(async () => {
  client?.close();
  await server?.shutdown(500);
  await rm(dir, { recursive: true, force: true });
});

const request: PredictRequest = {
  id: 'auth',
  topK: 3,
  input: {
    $case: 'raw',
    value: { width: 32, height: 32, format: PixelFormat.PIXEL_FORMAT_RGB8, data: rgbPixels(32, 32) },
  },
};

function headers(authorization?: string): Metadata {
  const metadata = new Metadata();
  if (authorization !== undefined) metadata.set('authorization', authorization);
  return metadata;
}

function predict(authorization?: string): Promise<PredictResponse | ServiceError> {
  return settled<PredictRequest, PredictResponse>(
    (req, callback) => client.predict(req, headers(authorization), callback),
    request,
  );
}

/** Opens a stream, writes frames, ends it; resolves with what came back. */
function stream(authorization: string | undefined, frames: number): Promise<StreamOutcome> {
  return runStream(
    client,
    Array.from({ length: frames }, (_, i) => ({ ...request, id: `f${i}` })),
    headers(authorization),
  );
}

async function callCount(method: string, code: string): Promise<number> {
  const metric = await server.metrics.calls.get();
  return metric.values.find((v) => v.labels.method === method && v.labels.code === code)?.value ?? 0;
}

describe('bearer tokens', () => {
  it('refuses a call without a token: UNAUTHENTICATED "missing bearer token"', async () => {
    expect(await predict()).toMatchObject({ code: status.UNAUTHENTICATED, details: 'missing bearer token' });
    expect(await predict('Basic dXNlcjpwYXNz')).toMatchObject({
      code: status.UNAUTHENTICATED,
      details: 'missing bearer token',
    });
    const metadata = await settled<object, unknown>(client.getMetadata.bind(client), {});
    expect(metadata).toMatchObject({ code: status.UNAUTHENTICATED });
  });

  it('refuses a wrong token: UNAUTHENTICATED "invalid bearer token"', async () => {
    for (const token of ['wrong', LIST_TOKENS[0]!.slice(0, -1), `${LIST_TOKENS[0]}x`, LIST_TOKENS[0]!.toUpperCase()]) {
      expect(await predict(`Bearer ${token}`)).toMatchObject({
        code: status.UNAUTHENTICATED,
        details: 'invalid bearer token',
      });
    }
  });

  it('serves every configured token, from the list and from the file', async () => {
    for (const token of [...LIST_TOKENS, FILE_TOKEN]) {
      const answer = await predict(`Bearer ${token}`);
      expect(answer, token).toMatchObject({ id: 'auth' });
      expect((answer as PredictResponse).outputs[0]!.prediction).toHaveLength(3);
    }
  });

  it('ignores the comment lines of the token file', async () => {
    expect(await predict(`Bearer ${COMMENTED_TOKEN}`)).toMatchObject({
      code: status.UNAUTHENTICATED,
      details: 'invalid bearer token',
    });
    expect(await predict('Bearer #')).toMatchObject({ code: status.UNAUTHENTICATED });
  });

  it('checks streams too, and answers a token-bearing stream', async () => {
    const refused = await stream('Bearer nope', 3);
    expect(refused.error).toMatchObject({ code: status.UNAUTHENTICATED, details: 'invalid bearer token' });
    expect(refused.responses).toEqual([]);
    const served = await stream(`Bearer ${FILE_TOKEN}`, 2);
    expect(served.error).toBeUndefined();
    expect(served.responses.map((r) => r.id)).toEqual(['f0', 'f1']);
  });

  it('does no work for refused calls: no engine run, no handler', async () => {
    const runsBefore = await engineRuns(server);
    const okBefore = await callCount('Predict', 'OK');
    const refusedBefore = await callCount('Predict', 'UNAUTHENTICATED');
    const streamsBefore = await callCount('PredictStream', 'UNAUTHENTICATED');
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => predict(i % 2 ? undefined : 'Bearer bad')));
    const streams = await Promise.all([stream(undefined, 10), stream('Bearer bad', 10)]);
    expect(answers.every((a) => (a as ServiceError).code === status.UNAUTHENTICATED)).toBe(true);
    expect(streams.every((s) => s.error?.code === status.UNAUTHENTICATED && s.responses.length === 0)).toBe(true);
    expect(await engineRuns(server)).toBe(runsBefore);
    expect(await callCount('Predict', 'OK')).toBe(okBefore);
    expect(await callCount('Predict', 'UNAUTHENTICATED')).toBe(refusedBefore + 20);
    expect(await callCount('PredictStream', 'UNAUTHENTICATED')).toBe(streamsBefore + 2);
    await expect(server.metrics.activeStreams.get()).resolves.toMatchObject({ values: [{ value: 0 }] });
  });

  it('logs refusals at warn with the method and reason, never the token', async () => {
    await predict('Bearer leaked-secret-attempt');
    const entries = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const refusals = entries.filter((e) => e.msg === 'call refused');
    expect(refusals.length).toBeGreaterThan(0);
    expect(refusals.at(-1)).toMatchObject({
      level: 40,
      method: 'Predict',
      code: 'UNAUTHENTICATED',
      reason: 'invalid bearer token',
    });
    const all = logLines.join('\n');
    for (const secret of ['leaked-secret-attempt', ...LIST_TOKENS, FILE_TOKEN]) expect(all).not.toContain(secret);
    expect(entries.find((e) => String(e.msg).includes('listening'))).toMatchObject({
      auth: 'bearer',
      tokens: 3,
      tls: 'off',
    });
  });
});

describe('health and reflection with tokens on', () => {
  it('answers health without a token', async () => {
    const health = healthClient(address);
    try {
      expect(await unary<object, { status: string }>(health.Check.bind(health), { service: '' })).toEqual({
        status: 'SERVING',
      });
    } finally {
      health.close();
    }
  });

  /** Lists services over reflection; resolves the names or the error. */
  async function listServices(target: string, authorization?: string): Promise<string[] | ServiceError> {
    const reflection = dynamicClient(
      'grpc/reflection/v1/reflection.proto',
      [REFLECTION_PROTO_DIR],
      'grpc.reflection.v1.ServerReflection',
      target,
    );
    try {
      return await new Promise((resolve) => {
        const call = reflection.ServerReflectionInfo(headers(authorization));
        call.on('data', (response: any) => {
          resolve(response.list_services_response.service.map((s: { name: string }) => s.name));
          call.end();
        });
        call.on('error', resolve);
        call.write({ list_services: '' });
      });
    } finally {
      reflection.close();
    }
  }

  it('refuses reflection without a token by default, serves it with one', async () => {
    expect(await listServices(address)).toMatchObject({ code: status.UNAUTHENTICATED });
    expect(await listServices(address, `Bearer ${LIST_TOKENS[1]}`)).toContain('modelhub.v1.ModelService');
  });

  it('serves reflection without a token with --public-reflection, and still guards the model', async () => {
    const open: TestServer = await startTestServer(['--auth-tokens', 'only-token', '--public-reflection']);
    const openClient = modelClient(open.address);
    try {
      expect(await listServices(open.address)).toEqual(
        expect.arrayContaining(['modelhub.v1.ModelService', 'grpc.health.v1.Health']),
      );
      const refused = await settled<object, unknown>(openClient.getMetadata.bind(openClient), {});
      expect(refused).toMatchObject({ code: status.UNAUTHENTICATED });
    } finally {
      openClient.close();
      await open.shutdown(500);
    }
  });
});
