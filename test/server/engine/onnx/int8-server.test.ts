/**
 * --precision int8 through the server: GetMetadata and the engine_info metric say the precision and the calibration
 * set, Predict answers, a restart reads the ranges from the cache instead of calibrating, and the tfjs engine refuses
 * int8 at start-up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cp, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Metadata, ModelServiceClient, PredictResponse } from '../../../../src/gen/modelhub/v1/model_service.js';
import { readImageSet } from '../../../../src/server/engine/onnx/calibration.js';
import { unary } from '../../../support/grpc.js';
import { modelClient, startTestServer, type TestServer } from '../../../support/server.js';

const CONTRIB = new URL('../../../../contrib_src', import.meta.url).pathname;
let root: string;
let contribDir: string;
let calibrationDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'xception-int8-server-'));
  contribDir = join(root, 'contrib_src');
  await cp(CONTRIB, contribDir, { recursive: true, filter: (source) => !source.includes('.int8-cache') });
  // One image: two calibration runs keep the first start short.
  calibrationDir = join(root, 'calibration');
  await mkdir(calibrationDir);
  await cp(join(CONTRIB, 'sample_data', 'orange.jpg'), join(calibrationDir, 'orange.jpg'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function int8Server(): Promise<TestServer> {
  return startTestServer([
    '--precision',
    'int8',
    '--contrib-dir',
    contribDir,
    '--calibration-dir',
    calibrationDir,
    '--threads',
    '2',
  ]);
}

describe('--precision int8', () => {
  let server: TestServer;
  let client: ModelServiceClient;

  beforeAll(async () => {
    server = await int8Server();
    client = modelClient(server.address);
  }, 300_000);
  afterAll(async () => {
    client?.close();
    await server?.shutdown(1000);
  });

  it('reports the precision and the calibration set in GetMetadata and in engine_info', async () => {
    const { runtime } = await unary<object, Metadata>(client.getMetadata.bind(client), {});
    expect(runtime!.precision).toBe('int8');
    expect(runtime!.calibration).toEqual({
      source: calibrationDir,
      images: 1,
      sha256: (await readImageSet(calibrationDir)).sha256,
      method: 'percentile',
    });
    const metrics = await server.metrics.registry.metrics();
    expect(metrics).toMatch(/xception_engine_info\{engine="onnx",[^}]*precision="int8",[^}]*\} 1/);
  });

  it('classifies an image', async () => {
    const response = await unary<object, PredictResponse>(client.predict.bind(client), {
      id: 'int8',
      topK: 3,
      input: { $case: 'image', value: await readFile(join(CONTRIB, 'sample_data', 'sunset.jpg')) },
    });
    const labels = response.outputs[0]!.prediction;
    expect(labels).toHaveLength(3);
    expect(labels[0]!.probability).toBeGreaterThan(labels[2]!.probability);
  });

  it('wrote the ranges beside the seeded weights, and a restart reads them instead of calibrating', async () => {
    const cached = await readdir(join(contribDir, 'model', '.int8-cache'));
    expect(cached).toHaveLength(1);
    const service = await server.ready;
    expect(service.runtime.timings.calibrationMs).toBeGreaterThan(0);

    const again = await int8Server();
    try {
      const restarted = await again.ready;
      expect(restarted.runtime.timings.calibrationMs).toBe(0);
      expect(restarted.runtime.calibration).toEqual(service.runtime.calibration);
    } finally {
      await again.shutdown(1000);
    }
    expect(await readdir(join(contribDir, 'model', '.int8-cache'))).toEqual(cached);
  }, 300_000);
});

describe('precision at start-up', () => {
  it('fp32 is the default: precision "fp32" and no calibration', async () => {
    const server = await startTestServer(['--contrib-dir', contribDir, '--threads', '1']);
    const client = modelClient(server.address);
    try {
      const { runtime } = await unary<object, Metadata>(client.getMetadata.bind(client), {});
      expect(runtime!.precision).toBe('fp32');
      expect(runtime!.calibration).toBeUndefined();
      expect(await server.metrics.registry.metrics()).toMatch(/xception_engine_info\{[^}]*precision="fp32",[^}]*\} 1/);
    } finally {
      client.close();
      await server.shutdown(1000);
    }
  }, 120_000);

  it('the tfjs engine refuses int8 before loading anything', async () => {
    const server = await startTestServer(['--engine', 'tfjs', '--precision', 'int8'], { waitReady: false });
    try {
      await expect(server.ready).rejects.toThrow(
        'the tfjs engine has no int8 path: --precision int8 needs --engine onnx (or use --precision fp32)',
      );
    } finally {
      await server.shutdown(0);
    }
  });

  it('a calibration directory that does not exist stops start-up with its path', async () => {
    const missing = join(root, 'no-such-dir');
    const server = await startTestServer(
      ['--precision', 'int8', '--contrib-dir', contribDir, '--calibration-dir', missing],
      { waitReady: false },
    );
    try {
      await expect(server.ready).rejects.toThrow(`calibration directory ${missing} does not exist`);
    } finally {
      await server.shutdown(0);
    }
  }, 60_000);
});
