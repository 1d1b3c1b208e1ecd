import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchitectureBuilder, xception, type Architecture } from '../../../../src/server/model/architecture.js';
import type { Engine } from '../../../../src/server/engine/engine.js';
import { runTensors } from '../../../../src/server/engine/tensor-slab.js';
import { createOnnxEngine, onnxSessionOptions } from '../../../../src/server/engine/onnx/onnx-engine.js';
import { compileOnnxModel, tfPadding } from '../../../../src/server/engine/onnx/graph.js';
import { evaluateReference, prng, randomWeights, uniform } from '../../../support/reference-model.js';

const CLASSES = 10;

/**
 * A miniature Xception: valid stride-2 and stride-1 convs, an entry block with a strided residual 1×1 conv and
 * 'same' max-pool, a block with ReLU before the separable convs, a middle block with an identity shortcut, and the
 * exit (sepconv, BN, ReLU, global average pool, dense softmax).
 */
function miniXception(size: number, channels = 3): Architecture {
  const b = new ArchitectureBuilder();
  const inputShape = [size, size, channels] as const;
  let x = b.input('input_1', inputShape);
  x = b.conv(x, 'block1_conv1', 8, 3, 2, 'valid');
  x = b.bn(x, 'block1_conv1_bn');
  x = b.relu(x, 'block1_conv1_act');
  x = b.conv(x, 'block1_conv2', 12, 3, 1, 'valid');
  x = b.bn(x, 'block1_conv2_bn');
  x = b.relu(x, 'block1_conv2_act');

  let residual = b.residual(x, 16);
  x = b.sepconv(x, 'block2_sepconv1', 16);
  x = b.bn(x, 'block2_sepconv1_bn');
  x = b.relu(x, 'block2_sepconv2_act');
  x = b.sepconv(x, 'block2_sepconv2', 16);
  x = b.bn(x, 'block2_sepconv2_bn');
  x = b.maxPool(x, 'block2_pool');
  x = b.add(x, residual, 'add_1');

  residual = b.residual(x, 24);
  x = b.relu(x, 'block3_sepconv1_act');
  x = b.sepconv(x, 'block3_sepconv1', 24);
  x = b.bn(x, 'block3_sepconv1_bn');
  x = b.maxPool(x, 'block3_pool');
  x = b.add(x, residual, 'add_2');

  residual = x;
  x = b.relu(x, 'block4_sepconv1_act');
  x = b.sepconv(x, 'block4_sepconv1', 24);
  x = b.bn(x, 'block4_sepconv1_bn');
  x = b.add(x, residual, 'add_3');

  x = b.sepconv(x, 'block5_sepconv1', 32);
  x = b.bn(x, 'block5_sepconv1_bn');
  x = b.relu(x, 'block5_sepconv1_act');
  x = b.globalAveragePool(x, 'avg_pool');
  b.dense(x, 'predictions', CLASSES);
  return { name: `mini-xception-${size}`, layers: b.layers, inputShape, classes: CLASSES };
}

function images(arch: Architecture, batch: number, seed: number, lo = -1, hi = 1): Float32Array {
  const [h, w, c] = arch.inputShape;
  return uniform(prng(seed), batch * h * w * c, lo, hi);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** Runs the architecture with ORT and the reference; asserts agreement and that the output is not degenerate. */
async function expectMatchesReference(arch: Architecture, input: Float32Array, batch: number, seed = 7): Promise<void> {
  const weights = randomWeights(arch, seed);
  const engine = await createOnnxEngine(arch, weights, { threads: 1 });
  try {
    const actual = await runTensors(engine, input, batch);
    const expected = evaluateReference(arch, weights, input, batch);
    expect(actual).toHaveLength(batch * arch.classes);
    expect(maxAbsDiff(actual, expected)).toBeLessThanOrEqual(1e-5);
    // Non-trivial: neither uniform nor one-hot, so a wrong layout or padding would show.
    const first = [...expected.subarray(0, arch.classes)];
    expect(Math.max(...first) - Math.min(...first)).toBeGreaterThan(0.05);
    expect(Math.max(...first)).toBeLessThan(0.99);
  } finally {
    await engine.close();
  }
}

describe('tfPadding (TensorFlow semantics)', () => {
  it.each([
    // size, kernel, stride, padding → before, after, out
    [32, 3, 2, 'same', 0, 1, 16],
    [33, 3, 2, 'same', 1, 1, 17],
    [14, 3, 2, 'same', 0, 1, 7],
    [32, 1, 2, 'same', 0, 0, 16],
    [19, 3, 1, 'same', 1, 1, 19],
    [299, 3, 2, 'valid', 0, 0, 149],
    [149, 3, 1, 'valid', 0, 0, 147],
  ] as const)('%i k%i s%i %s → pads %i/%i, out %i', (size, k, s, padding, before, after, out) => {
    expect(tfPadding(size, k, s, padding)).toEqual({ before, after, out });
  });
});

describe('spinning intra-op threads (--onnx-spinning)', () => {
  it('asks ONNX Runtime not to spin only when told, and answers the same either way', async () => {
    expect(onnxSessionOptions(2).extra).toBeUndefined();
    expect(onnxSessionOptions(2, false).extra).toEqual({ session: { 'intra_op.allow_spinning': '0' } });

    const arch = miniXception(33);
    const weights = randomWeights(arch, 3);
    const input = images(arch, 1, 5);
    const [spinning, sleeping] = await Promise.all([
      createOnnxEngine(arch, weights, { threads: 2, spinning: true }),
      createOnnxEngine(arch, weights, { threads: 2, spinning: false }),
    ]);
    try {
      const a = await runTensors(spinning, input, 1);
      const b = await runTensors(sleeping, input, 1);
      expect(a).toHaveLength(CLASSES);
      expect(maxAbsDiff(a, b)).toBeLessThanOrEqual(1e-6);
    } finally {
      await Promise.all([spinning.close(), sleeping.close()]);
    }
  });
});

describe('onnx engine vs the Float64 reference', () => {
  it.each([33, 32])('matches a mini Xception on a %i-pixel square RGB input (batch 2)', async (size) => {
    const arch = miniXception(size);
    await expectMatchesReference(arch, images(arch, 2, size), 2);
  });

  it('pools with −∞ padding: negative inputs at the border are never beaten by padded zeros', async () => {
    const b = new ArchitectureBuilder();
    const inputShape = [10, 10, 4] as const; // even size: 'same' pads 0 before, 1 after (asymmetric)
    let x = b.input('input_1', inputShape);
    x = b.maxPool(x, 'pool');
    x = b.globalAveragePool(x, 'avg_pool');
    b.dense(x, 'predictions', CLASSES);
    const arch = { name: 'pool-only', layers: b.layers, inputShape, classes: CLASSES };
    await expectMatchesReference(arch, images(arch, 1, 3, -2, -0.5), 1);
  });

  it('handles a BatchNorm that cannot be folded (after an add) and a conv feeding two layers', async () => {
    const b = new ArchitectureBuilder();
    const inputShape = [9, 9, 3] as const;
    let x = b.input('input_1', inputShape);
    x = b.conv(x, 'conv', 8, 3, 1, 'same');
    const y = b.relu(x, 'conv_act');
    x = b.add(x, y, 'add');
    x = b.bn(x, 'add_bn');
    x = b.globalAveragePool(x, 'avg_pool');
    b.dense(x, 'predictions', CLASSES);
    const arch = { name: 'unfused-bn', layers: b.layers, inputShape, classes: CLASSES };
    await expectMatchesReference(arch, images(arch, 1, 5), 1);
  });

  it('rejects an unknown layer kind and missing weights', () => {
    const arch = miniXception(32);
    const weights = randomWeights(arch, 1);
    const odd = {
      ...arch,
      layers: [...arch.layers.slice(0, 2), { kind: 'dropout', name: 'drop', inputs: ['block1_conv1'] }],
    };
    expect(() => compileOnnxModel(odd as unknown as Architecture, weights)).toThrow(/drop: kind 'dropout'/);
    const missing = new Map(weights);
    missing.delete('block2_sepconv1');
    expect(() => compileOnnxModel(arch, missing)).toThrow(/block2_sepconv1: missing weight/);
  });

  it('validates the input length', async () => {
    const arch = miniXception(32);
    const engine = await createOnnxEngine(arch, randomWeights(arch, 1), { threads: 1 });
    try {
      await expect(runTensors(engine, new Float32Array(10), 1)).rejects.toThrow(/batch 1 needs 3072/);
      expect(engine.info).toEqual({ engine: 'onnx', backend: 'onnxruntime-node cpu', threads: 1, instances: 1 });
    } finally {
      await engine.close();
    }
  });
});

describe('onnx engine on the full Xception (random weights)', () => {
  const arch = xception();
  let engine: Engine;

  beforeAll(async () => {
    engine = await createOnnxEngine(arch, randomWeights(arch, 42));
  }, 60_000);
  afterAll(async () => {
    await engine?.close();
  });

  it('runs batch 1 and 2; rows are distributions and a batch equals its single runs', async () => {
    const input = images(arch, 2, 11);
    const size = 299 * 299 * 3;
    const first = await runTensors(engine, input.subarray(0, size), 1);
    const second = await runTensors(engine, input.subarray(size), 1);
    const both = await runTensors(engine, input, 2);

    expect(first).toHaveLength(1000);
    expect(both).toHaveLength(2000);
    for (let row = 0; row < 2; row++) {
      const probabilities = both.subarray(row * 1000, (row + 1) * 1000);
      expect(probabilities.every((p) => Number.isFinite(p) && p >= 0)).toBe(true);
      expect(probabilities.reduce((a, p) => a + p, 0)).toBeCloseTo(1, 4);
    }
    expect(maxAbsDiff(both.subarray(0, 1000), first)).toBeLessThanOrEqual(1e-6);
    expect(maxAbsDiff(both.subarray(1000), second)).toBeLessThanOrEqual(1e-6);
    // Different images give different answers (the network is not collapsed to a constant).
    expect(maxAbsDiff(first, second)).toBeGreaterThan(1e-6);
  }, 60_000);
});
