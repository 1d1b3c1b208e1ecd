import { describe, expect, it } from 'vitest';
import { weightSpecs, xception } from '../../../../src/server/model/architecture.js';
import { sha256Tensors } from '../../../../src/server/model/weights/digest.js';
import { seededWeights } from '../../../../src/server/model/weights/seeded.js';
import { tinyXception } from '../../../support/hdf5-writer.js';

function moments(data: Float32Array): { mean: number; std: number } {
  let sum = 0;
  let squares = 0;
  for (const x of data) {
    sum += x;
    squares += x * x;
  }
  const mean = sum / data.length;
  return { mean, std: Math.sqrt(squares / data.length - mean * mean) };
}

describe('seededWeights', () => {
  const arch = tinyXception();

  it('is deterministic in the seed', () => {
    const a = seededWeights(arch, 42);
    const b = seededWeights(arch, 42);
    expect(a.sha256).toBe(b.sha256);
    for (const spec of weightSpecs(arch)) {
      expect(a.weights.get(spec.layer)!.get(spec.role)!.data).toEqual(b.weights.get(spec.layer)!.get(spec.role)!.data);
    }
    const c = seededWeights(arch, 43);
    expect(c.sha256).not.toBe(a.sha256);
    expect(c.weights.get('block1_conv1')!.get('kernel')!.data).not.toEqual(
      a.weights.get('block1_conv1')!.get('kernel')!.data,
    );
  });

  it('describes itself as seeded random weights', () => {
    const loaded = seededWeights(arch);
    expect(loaded).toMatchObject({ format: 'seeded-random', source: 'seeded-random', pretrained: false, seed: 0 });
    expect(loaded.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('rejects seeds that are not unsigned 32-bit integers', () => {
    expect(() => seededWeights(arch, -1)).toThrow(RangeError);
    expect(() => seededWeights(arch, 1.5)).toThrow(RangeError);
    expect(() => seededWeights(arch, 2 ** 32)).toThrow(RangeError);
  });

  it('builds every tensor of the full Xception with the specified shape, hashing them in spec order', () => {
    const full = xception();
    // How fast (the 1.5 s budget) is measured by `npm run bench:engine`, not here.
    const loaded = seededWeights(full, 5);
    const specs = weightSpecs(full);
    let floats = 0;
    for (const spec of specs) {
      const tensor = loaded.weights.get(spec.layer)!.get(spec.role)!;
      expect(tensor.shape).toEqual(spec.shape);
      expect(tensor.data.length).toBe(spec.shape.reduce((a, b) => a * b, 1));
      floats += tensor.data.length;
    }
    expect(floats).toBe(22_910_480);
    expect(sha256Tensors(specs.map((s) => loaded.weights.get(s.layer)!.get(s.role)!))).toBe(loaded.sha256);

    // He-normal convolutions, BatchNorm close to the identity, a small classifier.
    const conv = moments(loaded.weights.get('block1_conv2')!.get('kernel')!.data);
    expect(conv.mean).toBeCloseTo(0, 2);
    expect(conv.std).toBeCloseTo(Math.sqrt(2 / (3 * 3 * 32)), 2);
    const pointwise = moments(loaded.weights.get('block5_sepconv1')!.get('pointwise_kernel')!.data);
    expect(pointwise.std).toBeCloseTo(Math.sqrt(2 / 728), 3);
    const bn = loaded.weights.get('block14_sepconv2_bn')!;
    expect(bn.get('gamma')!.data.every((v) => v === 1)).toBe(true);
    expect(bn.get('beta')!.data.every((v) => v === 0)).toBe(true);
    expect(bn.get('moving_variance')!.data.every((v) => v >= 0.9 && v <= 1.1)).toBe(true);
    expect(Math.max(...bn.get('moving_mean')!.data.map(Math.abs))).toBeLessThan(0.1);
    expect(moments(loaded.weights.get('predictions')!.get('kernel')!.data).std).toBeCloseTo(0.03 / Math.sqrt(2048), 4);
  });
});
