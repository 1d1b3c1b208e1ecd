/**
 * Weights reloaded without downtime: under steady load every call is answered OK and none is lost, the answers and the
 * metadata switch from the old weights to the new exactly once; a corrupt file or one that fails the shape checks
 * changes nothing; the admin call needs an admin token; SIGHUP and --watch-weights reload too.
 */
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { copyFile, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminServiceClient } from '../../src/gen/modelhub/v1/admin.js';
import type { ModelServiceClient, PredictResponse } from '../../src/gen/modelhub/v1/model_service.js';
import { unary, settled } from '../support/grpc.js';
import { kerasLayers, tinyXception, writeKerasHdf5 } from '../support/hdf5-writer.js';
import { smallRawRequest } from '../support/images.js';
import { metricValue } from '../support/metrics.js';
import { waitFor } from '../support/poll.js';
import { bufCurl } from '../support/reflection.js';
import { modelClient, startTestServer, type TestServer } from '../support/server.js';
import { startServerProcess } from '../support/subprocess.js';
import { writeXceptionH5 } from '../support/weights-files.js';
import { seededWeights } from '../../src/server/model/weights/seeded.js';

const ADMIN_TOKEN = 'admin-secret-1';
const CALLER_TOKEN = 'caller-secret-1';

let dir: string;
/** Seeded weights files: A serves first, B replaces it. */
let fileA: string;
let fileB: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xception-reload-'));
  fileA = join(dir, 'a.h5');
  fileB = join(dir, 'b.h5');
  await writeXceptionH5(fileA, 1);
  await writeXceptionH5(fileB, 2);
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The file the server serves, starting as a copy of A. */
async function liveWeights(name: string): Promise<string> {
  const path = join(dir, name);
  await copyFile(fileA, path);
  return path;
}

function adminClient(server: TestServer): AdminServiceClient {
  return new AdminServiceClient(server.address, credentials.createInsecure());
}

function bearer(token?: string): Metadata {
  const metadata = new Metadata();
  if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

function reload(admin: AdminServiceClient, token?: string) {
  return settled((request: object, callback: any) => admin.reloadWeights(request, bearer(token), callback), {});
}

async function metadataSha(client: ModelServiceClient): Promise<string> {
  const metadata = await unary(client.getMetadata.bind(client), {});
  return metadata.runtime!.weightsSha256;
}

describe('weights reload', () => {
  it('swaps the weights under steady load: every call OK, answers and metadata change exactly once', async () => {
    const weights = await liveWeights('steady.h5');
    const server = await startTestServer(['--weights', weights, '--threads', '1', '--admin-tokens', ADMIN_TOKEN]);
    const client = modelClient(server.address);
    const admin = adminClient(server);
    try {
      const before = await metadataSha(client);
      // Four callers keep the engine busy and the queue non-empty through the switch.
      let stop = false;
      const answers: { caller: number; sha: string; top: string }[] = [];
      const failures: unknown[] = [];
      const callers = [0, 1, 2, 3].map(async (caller) => {
        for (let i = 0; !stop; i++) {
          const answer = await settled(client.predict.bind(client), smallRawRequest(`${caller}-${i}`));
          if ('code' in answer) failures.push(answer);
          else {
            const { model, outputs } = answer as PredictResponse;
            const top = outputs[0]!.prediction[0]!;
            answers.push({ caller, sha: model!.weightsSha256, top: `${top.label} ${top.probability}` });
          }
        }
      });
      // Metadata as an observer polling through the reload sees it.
      const seen: string[] = [before];
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          const sha = await metadataSha(client);
          if (sha !== seen.at(-1)) seen.push(sha);
        }
      })();

      await waitFor(() => answers.length >= 4, 60_000, 'load before the reload');
      await copyFile(fileB, `${weights}.new`);
      await rename(`${weights}.new`, weights);
      const result = await reload(admin, ADMIN_TOKEN);
      expect(result).toMatchObject({ changed: true, previousWeightsSha256: before });
      const after = (result as { weightsSha256: string }).weightsSha256;
      expect(after).not.toBe(before);
      const answeredAtSwitch = answers.length;
      await waitFor(() => answers.length >= answeredAtSwitch + 4, 60_000, 'load after the reload');
      stop = true;
      await Promise.all(callers);
      watching = false;
      await watcher;

      expect(failures).toEqual([]);
      expect(seen).toEqual([before, after]);
      // Each caller's answers: old weights, then new, switching once.
      for (const caller of [0, 1, 2, 3]) {
        const shas = answers.filter((a) => a.caller === caller).map((a) => a.sha);
        const switchAt = shas.indexOf(after);
        expect(switchAt).toBeGreaterThan(-1);
        expect(shas.slice(0, switchAt).every((sha) => sha === before)).toBe(true);
        expect(shas.slice(switchAt).every((sha) => sha === after)).toBe(true);
      }
      // Every caller sends the same image: the answers named A are A's answer, those named B are B's (a request runs on
      // the engine of the weights it names).
      const tops = (sha: string) => new Set(answers.filter((a) => a.sha === sha).map((a) => a.top));
      expect(tops(before).size).toBe(1);
      expect(tops(after).size).toBe(1);
      expect([...tops(before)]).not.toEqual([...tops(after)]);
      const registry = server.metrics.registry;
      expect(await metricValue(registry, 'xception_weight_reloads_total', { trigger: 'admin', result: 'ok' })).toBe(1);
      const info = (await registry.getSingleMetric('xception_engine_info')!.get()).values;
      expect(info.map((sample) => sample.labels.weights_sha256)).toEqual([after]);
      await expect(server.reloadWeights('admin')).resolves.toMatchObject({ changed: false, sha256: after });
    } finally {
      client.close();
      admin.close();
      await server.shutdown(0);
    }
  }, 180_000);

  it('keeps serving the old weights when the new file is corrupt or fails its shape checks', async () => {
    const weights = await liveWeights('corrupt.h5');
    const server = await startTestServer(['--weights', weights, '--threads', '1', '--admin-tokens', ADMIN_TOKEN]);
    const client = modelClient(server.address);
    const admin = adminClient(server);
    try {
      const before = await metadataSha(client);
      expect(await reload(admin, ADMIN_TOKEN)).toMatchObject({ changed: false, weightsSha256: before });
      await writeFile(weights, Buffer.from('not an HDF5 file at all'));
      const corrupt = (await reload(admin, ADMIN_TOKEN)) as ServiceError;
      expect(corrupt.code).toBe(status.FAILED_PRECONDITION);
      expect(corrupt.details).toMatch(/weights reload failed, still serving/);

      const tiny = tinyXception();
      await writeKerasHdf5(weights, kerasLayers(tiny, seededWeights(tiny, 3).weights));
      const misshapen = (await reload(admin, ADMIN_TOKEN)) as ServiceError;
      expect(misshapen.code).toBe(status.FAILED_PRECONDITION);

      expect(await metadataSha(client)).toBe(before);
      const answer = await unary(client.predict.bind(client), smallRawRequest('after-failures'));
      expect(answer.model!.weightsSha256).toBe(before);
      const registry = server.metrics.registry;
      expect(await metricValue(registry, 'xception_weight_reloads_total', { trigger: 'admin', result: 'failed' })).toBe(
        2,
      );
    } finally {
      client.close();
      admin.close();
      await server.shutdown(0);
    }
  }, 120_000);

  it('reloads when the file changes with --watch-weights', async () => {
    const weights = await liveWeights('watched.h5');
    const server = await startTestServer([
      '--weights',
      weights,
      '--threads',
      '1',
      '--watch-weights',
      '--watch-weights-interval',
      '50',
    ]);
    const client = modelClient(server.address);
    try {
      const before = await metadataSha(client);
      await writeXceptionH5(weights, 2);
      await waitFor(async () => (await metadataSha(client)) !== before, 60_000, 'the watched file to be reloaded');
      const registry = server.metrics.registry;
      await waitFor(
        async () =>
          (await metricValue(registry, 'xception_weight_reloads_total', { trigger: 'watch', result: 'ok' })) === 1,
        10_000,
        'the reload to be counted',
      );
    } finally {
      client.close();
      await server.shutdown(0);
    }
  }, 120_000);

  it('takes admin calls only with an admin token, never a caller token', async () => {
    const weights = await liveWeights('auth.h5');
    const server = await startTestServer([
      '--weights',
      weights,
      '--threads',
      '1',
      '--admin-tokens',
      ADMIN_TOKEN,
      '--auth-tokens',
      CALLER_TOKEN,
    ]);
    const admin = adminClient(server);
    const client = modelClient(server.address);
    try {
      expect(((await reload(admin)) as ServiceError).code).toBe(status.UNAUTHENTICATED);
      expect(((await reload(admin, CALLER_TOKEN)) as ServiceError).code).toBe(status.UNAUTHENTICATED);
      // The admin token is not a caller token either.
      const predict = await settled(
        (request: any, callback: any) => client.predict(request, bearer(ADMIN_TOKEN), callback),
        smallRawRequest('admin-as-caller'),
      );
      expect((predict as ServiceError).code).toBe(status.UNAUTHENTICATED);
      expect(await reload(admin, ADMIN_TOKEN)).toMatchObject({ changed: false });
      // A tool we did not write, with reflection as its only schema (reflection needs a caller token here).
      const curl = await bufCurl([
        '--reflect-header',
        `authorization: Bearer ${CALLER_TOKEN}`,
        '-H',
        `authorization: Bearer ${ADMIN_TOKEN}`,
        `http://${server.address}/modelhub.v1.AdminService/ReloadWeights`,
      ]);
      expect(curl.exitCode, curl.stderr).toBe(0);
      expect(JSON.parse(curl.stdout)).toMatchObject({ weightsSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    } finally {
      admin.close();
      client.close();
      await server.shutdown(0);
    }
  }, 120_000);

  it('reloads on SIGHUP and goes on serving; without admin tokens the admin call is refused', async () => {
    const weights = await liveWeights('signal.h5');
    const server = await startServerProcess(['--weights', weights, '--threads', '1']);
    const client = modelClient(server.address);
    const admin = new AdminServiceClient(server.address, credentials.createInsecure());
    try {
      const refused = (await reload(admin, ADMIN_TOKEN)) as ServiceError;
      expect(refused.code).toBe(status.PERMISSION_DENIED);
      expect(refused.details).toMatch(/--admin-token-file/);
      const before = await metadataSha(client);
      await copyFile(fileB, weights);
      server.child.kill('SIGHUP');
      await waitFor(
        () => server.logs.some((line) => /^weights reloaded/.test(line.msg)),
        60_000,
        'the reload log line',
      );
      const after = await metadataSha(client);
      expect(after).not.toBe(before);
      const answer = await unary(client.predict.bind(client), smallRawRequest('after-sighup'));
      expect(answer.model!.weightsSha256).toBe(after);
      expect(server.child.exitCode).toBeNull();
    } finally {
      client.close();
      admin.close();
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    }
  }, 120_000);
});
