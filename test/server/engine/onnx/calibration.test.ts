/**
 * Quantisation arithmetic, range methods, the calibration cache (hit, miss, invalidation, unwritable), calibration
 * directories that cannot be used, and the CPU check behind the start-up warning.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MAX_INPUT_PIXELS } from '../../../../src/server/config.js';
import { parseModelHubConfig } from '../../../../src/server/contrib.js';
import {
  chooseRange,
  entropyBins,
  percentileBins,
  type TensorStats,
} from '../../../../src/server/engine/onnx/calibrate.js';
import {
  CalibrationError,
  calibrationCachePath,
  int8Calibration,
  readImageSet,
  type CalibrateOptions,
} from '../../../../src/server/engine/onnx/calibration.js';
import { int8DotFlags } from '../../../../src/server/engine/onnx/cpu-features.js';
import { fidelity } from '../../../../src/server/engine/onnx/fidelity.js';
import {
  quantizeBias,
  quantizeKernelPerChannel,
  quantizeUint8,
  uint8Params,
} from '../../../../src/server/engine/onnx/quantize.js';
import { inputLimitsFromConfig } from '../../../../src/server/input/limits.js';
import { ArchitectureBuilder, type Architecture } from '../../../../src/server/model/architecture.js';
import type { LoadedWeights } from '../../../../src/server/model/weights/weight-map.js';
import { jpeg, png } from '../../../support/images.js';
import { prng, randomWeights } from '../../../support/reference-model.js';

describe('quantisation arithmetic', () => {
  it('uint8 activations: the range widened to include 0, zero point exact, ReLU ranges at zero point 0', () => {
    expect(uint8Params({ min: -1, max: 3 })).toEqual({ scale: Math.fround(4 / 255), zeroPoint: 64 });
    expect(uint8Params({ min: 0, max: 6 })).toEqual({ scale: Math.fround(6 / 255), zeroPoint: 0 });
    expect(uint8Params({ min: 2, max: 3 })).toEqual({ scale: Math.fround(3 / 255), zeroPoint: 0 });
    expect(uint8Params({ min: -4, max: -1 })).toEqual({ scale: Math.fround(4 / 255), zeroPoint: 255 });
    expect(uint8Params({ min: 0, max: 0 })).toEqual({ scale: 1, zeroPoint: 0 });
    expect(() => uint8Params({ min: Number.NaN, max: 1 })).toThrow(/not a finite interval/);

    const params = uint8Params({ min: -1, max: 3 });
    expect(quantizeUint8(0, params)).toBe(params.zeroPoint);
    expect(quantizeUint8(-1, params)).toBe(0);
    expect(quantizeUint8(3, params)).toBe(255);
    expect(quantizeUint8(100, params)).toBe(255);
    // A uint8 range from 0 clamps negatives as a ReLU does.
    expect(quantizeUint8(-0.5, uint8Params({ min: 0, max: 1 }))).toBe(0);
  });

  it('int8 kernels: symmetric per output channel, within half a step of the floats', () => {
    const kernel = Float32Array.of(1, -0.5, 0.25, 0.01, 0.03, -0.04, 0, 0, 0);
    const { data, scales } = quantizeKernelPerChannel(kernel, 3);
    expect([...scales]).toEqual([Math.fround(1 / 127), Math.fround(0.04 / 127), 1]);
    expect([...data]).toEqual([127, -64, 32, 32, 95, -127, 0, 0, 0]);
    kernel.forEach((w, i) =>
      expect(Math.abs(data[i]! * scales[Math.floor(i / 3)]! - w)).toBeLessThanOrEqual(scales[Math.floor(i / 3)]! / 2),
    );
    expect(() => quantizeKernelPerChannel(kernel, 2)).toThrow(/2 output channels do not divide/);
  });

  it('int32 biases: codes at the given scales, refused when they would overflow', () => {
    expect([...quantizeBias(Float32Array.of(0.5, -0.25), Float32Array.of(0.01, 0.001))]).toEqual([50, -250]);
    expect(() => quantizeBias(Float32Array.of(1e6), Float32Array.of(1e-6))).toThrow(/does not fit int32/);
  });
});

describe('range methods', () => {
  /** |x| of a standard normal sample in 2048 bins over [0, max], and that max. */
  function normalStats(): TensorStats {
    const random = prng(3);
    const values = Array.from(
      { length: 200_000 },
      () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()),
    );
    const min = values.reduce((a, b) => Math.min(a, b));
    const max = values.reduce((a, b) => Math.max(a, b));
    const maxAbs = Math.max(-min, max);
    const histogram = new Float64Array(2048);
    for (const v of values) histogram[Math.min(2047, Math.floor((Math.abs(v) / maxAbs) * 2048))]! += 1;
    return { min, max, histogram };
  }

  it('minmax keeps the extremes, percentile clips the tails of a normal distribution, entropy keeps its bulk', () => {
    const stats = normalStats();
    expect(chooseRange(stats, 'minmax')).toEqual({ min: stats.min, max: stats.max });
    const percentile = chooseRange(stats, 'percentile');
    expect(percentile.max).toBeGreaterThan(3.5); // 99.99 % of |x| lies within 3.9 σ
    expect(percentile.max).toBeLessThan(Math.min(stats.max, -stats.min));
    expect(percentile.min).toBeCloseTo(-percentile.max, 10);
    const entropy = chooseRange(stats, 'entropy');
    expect(entropy.max).toBeGreaterThan(2.5);
    expect(entropy.max).toBeLessThanOrEqual(stats.max);
    expect(entropy.min).toBeGreaterThanOrEqual(stats.min);
  });

  it('percentile ignores one far outlier; a one-sided (ReLU) range stays one-sided', () => {
    const histogram = new Float64Array(2048);
    histogram.fill(1000, 0, 100);
    histogram[2047] = 1; // one value 20× further out than the rest
    expect(percentileBins(histogram, 99.99)).toBe(100);
    expect(chooseRange({ min: 0, max: 20.48, histogram }, 'percentile')).toEqual({ min: 0, max: 1 });
    expect(chooseRange({ min: 0, max: 20.48, histogram }, 'minmax')).toEqual({ min: 0, max: 20.48 });
    // A flat distribution has nothing to clip.
    expect(entropyBins(new Float64Array(2048).fill(1), 128)).toBe(2048);
  });
});

describe('fidelity of one image', () => {
  it('top-1 agreement, top-5 overlap and the largest probability difference', () => {
    const fp32 = [0.4, 0.2, 0.15, 0.1, 0.08, 0.07];
    const int8 = [0.3, 0.35, 0.15, 0.1, 0.02, 0.08];
    expect(fidelity(fp32, int8)).toEqual({
      fp32Top1: 0,
      int8Top1: 1,
      fp32Top1Probability: 0.4,
      int8Top1Probability: 0.35,
      top1Agrees: false,
      top5Overlap: 4,
      maxAbsDiff: expect.closeTo(0.15, 10),
    });
  });
});

describe('int8 dot-product CPU flags (the start-up warning)', () => {
  it('finds VNNI and AMX on x86 and the dot-product extension on Arm', () => {
    expect(int8DotFlags('processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_vnni amx_tile amx_int8\n')).toEqual([
      'avx512_vnni',
      'amx_int8',
    ]);
    expect(int8DotFlags('flags\t\t: fpu sse avx2 avx_vnni\n')).toEqual(['avx_vnni']);
    expect(int8DotFlags('flags\t\t: fpu sse sse2 avx avx2 fma\n')).toEqual([]);
    expect(int8DotFlags('processor\t: 0\nFeatures\t: fp asimd asimddp i8mm\n')).toEqual(['asimddp', 'i8mm']);
  });
});

describe('the calibration cache', () => {
  const SIZE = 16;
  const arch: Architecture = (() => {
    const b = new ArchitectureBuilder();
    const inputShape = [SIZE, SIZE, 3] as const;
    let x = b.input('input_1', inputShape);
    x = b.relu(b.bn(b.conv(x, 'conv', 8, 3, 1, 'same'), 'conv_bn'), 'conv_act');
    x = b.globalAveragePool(x, 'avg_pool');
    b.dense(x, 'predictions', 10);
    return { name: 'tiny', layers: b.layers, inputShape, classes: 10 };
  })();
  let root: string;
  let contribDir: string;
  let options: CalibrateOptions;

  const seeded = (sha256: string): LoadedWeights => ({
    weights: randomWeights(arch, 1),
    format: 'seeded-random',
    source: 'seeded-random',
    sha256,
    pretrained: false,
    seed: 1,
  });

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'xception-calibration-'));
    contribDir = join(root, 'contrib_src');
    await mkdir(join(contribDir, 'sample_data'), { recursive: true });
    await mkdir(join(contribDir, 'model'));
    await writeFile(join(contribDir, 'sample_data', 'a.png'), await png(40, 36, 1));
    await writeFile(join(contribDir, 'sample_data', 'b.jpg'), await jpeg(50, 40, 2));
    await writeFile(join(contribDir, 'sample_data', 'notes.txt'), 'not an image, ignored');
    const config = parseModelHubConfig(
      JSON.parse(await readFile(new URL('../../../../contrib_src/model/config.json', import.meta.url), 'utf8')),
    );
    const limits = {
      ...inputLimitsFromConfig(config, { maxInputPixels: DEFAULT_MAX_INPUT_PIXELS }),
      targetSize: [SIZE, SIZE] as const,
    };
    options = { arch, weights: seeded('a'.repeat(64)), contribDir, limits, threads: 1 };
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('misses, calibrates and writes; then hits with the same ranges and without running the model', async () => {
    const progress: number[] = [];
    const first = await int8Calibration({ ...options, onProgress: (done, total) => progress.push(done / total) });
    expect(first.cache).toEqual({
      path: calibrationCachePath(options.weights, contribDir, first.sha256, 'percentile'),
      hit: false,
      written: true,
    });
    expect(first.cache.path.startsWith(join(contribDir, 'model', '.int8-cache'))).toBe(true);
    expect(existsSync(first.cache.path)).toBe(true);
    expect(first).toMatchObject({ source: join(contribDir, 'sample_data'), images: 2, method: 'percentile' });
    expect(progress).toEqual([0.25, 0.5, 0.75, 1]);
    expect([...first.ranges.keys()]).toEqual(expect.arrayContaining(['input_1/nchw', 'conv_bn', 'conv_act']));

    const ran: number[] = [];
    const second = await int8Calibration({ ...options, onProgress: (done) => ran.push(done) });
    expect(second.cache.hit).toBe(true);
    expect(ran).toEqual([]);
    expect(second.ranges).toEqual(first.ranges);
    expect(second.sha256).toBe(first.sha256);
  }, 60_000);

  it('misses when the images, the weights or the method change, and when the file is not a cache', async () => {
    const before = await int8Calibration(options);
    expect(before.cache.hit).toBe(true);
    expect((await int8Calibration({ ...options, weights: seeded('b'.repeat(64)) })).cache.hit).toBe(false);
    expect((await int8Calibration({ ...options, method: 'minmax' })).cache.hit).toBe(false);

    await writeFile(before.cache.path, '{"format": 1, "ranges": ');
    const rewritten = await int8Calibration(options);
    expect(rewritten.cache).toMatchObject({ hit: false, written: true });
    expect((await int8Calibration(options)).cache.hit).toBe(true);

    await writeFile(join(contribDir, 'sample_data', 'c.png'), await png(33, 33, 3));
    const grown = await int8Calibration(options);
    expect(grown.cache.hit).toBe(false);
    expect(grown.images).toBe(3);
    expect(grown.sha256).not.toBe(before.sha256);
    await rm(join(contribDir, 'sample_data', 'c.png'));
    expect((await int8Calibration(options)).cache.hit).toBe(true);
  }, 120_000);

  it('keeps the cache beside a weights file, and calibrates anyway where it cannot write one', async () => {
    const fromFile = { format: 'keras-hdf5', source: '/models/xception.h5', sha256: 'c'.repeat(64) } as const;
    expect(calibrationCachePath(fromFile, contribDir, 'd'.repeat(64), 'percentile')).toMatch(
      /^\/models\/\.int8-cache\/[0-9a-f]{32}\.json$/,
    );

    const readOnly = join(root, 'read-only-contrib');
    await cp(contribDir, readOnly, { recursive: true });
    await rm(join(readOnly, 'model'), { recursive: true });
    await writeFile(join(readOnly, 'model'), 'a file where the cache folder would go');
    const result = await int8Calibration({ ...options, contribDir: readOnly });
    expect(result.cache).toMatchObject({
      hit: false,
      written: false,
      writeError: expect.stringMatching(/ENOTDIR|EEXIST/),
    });
    expect(result.ranges.size).toBeGreaterThan(0);
  }, 60_000);

  it('refuses a calibration directory that is missing, empty of images, or holds an image that does not decode', async () => {
    const missing = join(root, 'nowhere');
    await expect(int8Calibration({ ...options, calibrationDir: missing })).rejects.toThrow(
      new CalibrationError(`calibration directory ${missing} does not exist`),
    );
    const notADirectory = join(contribDir, 'sample_data', 'notes.txt');
    await expect(readImageSet(notADirectory)).rejects.toThrow(
      `calibration directory ${notADirectory} is not a directory`,
    );

    const empty = join(root, 'no-images');
    await mkdir(empty);
    await writeFile(join(empty, 'readme.md'), '# nothing here');
    await expect(int8Calibration({ ...options, calibrationDir: empty })).rejects.toThrow(
      `calibration directory ${empty} has no PNG or JPEG images (*.png, *.jpg, *.jpeg)`,
    );

    const broken = join(root, 'broken');
    await mkdir(broken);
    await writeFile(join(broken, 'fine.png'), await png(40, 40, 4));
    await writeFile(join(broken, 'truncated.png'), (await png(40, 40, 5)).subarray(0, 60));
    await expect(int8Calibration({ ...options, calibrationDir: broken })).rejects.toThrow(
      new RegExp(`^calibration image ${join(broken, 'truncated.png')}: .*PNG`),
    );
    await expect(int8Calibration({ ...options, calibrationDir: broken })).rejects.toBeInstanceOf(CalibrationError);
  }, 60_000);
});
