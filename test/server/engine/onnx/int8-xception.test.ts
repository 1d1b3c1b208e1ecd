/**
 * The full Xception in int8 with the seeded weights the server starts on: calibrated on the bundled samples, it runs
 * every convolution on integer kernels and stays close to fp32 on each sample.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MAX_INPUT_PIXELS } from '../../../../src/server/config.js';
import { parseModelHubConfig } from '../../../../src/server/contrib.js';
import type { Engine } from '../../../../src/server/engine/engine.js';
import {
  int8Calibration,
  prepareImages,
  readImageSet,
  type Int8Calibration,
} from '../../../../src/server/engine/onnx/calibration.js';
import { fidelity } from '../../../../src/server/engine/onnx/fidelity.js';
import { compileOnnxModel } from '../../../../src/server/engine/onnx/graph.js';
import { createOnnxEngine } from '../../../../src/server/engine/onnx/onnx-engine.js';
import { convolutionKinds, optimizedOpCounts } from '../../../../src/server/engine/onnx/optimized-ops.js';
import { runTensors } from '../../../../src/server/engine/tensor-slab.js';
import { inputLimitsFromConfig } from '../../../../src/server/input/limits.js';
import { xception } from '../../../../src/server/model/architecture.js';
import { seededWeights } from '../../../../src/server/model/weights/seeded.js';

const SAMPLES = new URL('../../../../contrib_src/sample_data', import.meta.url).pathname;
const arch = xception();
const weights = seededWeights(arch, 0);
let root: string;
let calibration: Int8Calibration;
let fp32: Engine;
let int8: Engine;
let images: Float32Array[];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'xception-int8-'));
  const contribDir = join(root, 'contrib_src');
  await mkdir(join(contribDir, 'model'), { recursive: true });
  await cp(SAMPLES, join(contribDir, 'sample_data'), { recursive: true });
  const config = parseModelHubConfig(
    JSON.parse(await readFile(new URL('../../../../contrib_src/model/config.json', import.meta.url), 'utf8')),
  );
  const limits = inputLimitsFromConfig(config, { maxInputPixels: DEFAULT_MAX_INPUT_PIXELS });
  calibration = await int8Calibration({ arch, weights, contribDir, limits, threads: 2 });
  images = await prepareImages(await readImageSet(SAMPLES), limits);
  fp32 = await createOnnxEngine(arch, weights.weights, { threads: 2 });
  int8 = await createOnnxEngine(arch, weights.weights, { threads: 2, int8: { ranges: calibration.ranges } });
}, 300_000);

afterAll(async () => {
  await fp32?.close();
  await int8?.close();
  await rm(root, { recursive: true, force: true });
});

describe('int8 Xception (seeded weights, calibrated on the samples)', () => {
  it('was calibrated on the four samples, by percentile', () => {
    expect(calibration).toMatchObject({ images: 4, method: 'percentile', cache: { hit: false, written: true } });
  });

  it('runs all 74 convolutions on int8 kernels in ONNX Runtime', async () => {
    const model = compileOnnxModel(arch, weights.weights, { precision: { kind: 'int8', ranges: calibration.ranges } });
    expect(convolutionKinds(await optimizedOpCounts(model, 2))).toEqual({ integer: 74, float: 0 });
  }, 120_000);

  it('agrees with fp32 on every sample: same top-1, top-5 overlap ≥ 4, probabilities within 0.04 (measured ≤ 0.012)', async () => {
    for (const image of images) {
      const result = fidelity(await runTensors(fp32, image, 1), await runTensors(int8, image, 1));
      expect(result.top1Agrees).toBe(true);
      expect(result.top5Overlap).toBeGreaterThanOrEqual(4);
      expect(result.maxAbsDiff).toBeLessThan(0.04);
      // Not trivially equal: int8 really computes something else.
      expect(result.maxAbsDiff).toBeGreaterThan(0);
    }
  }, 120_000);
});
