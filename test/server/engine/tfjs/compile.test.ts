/** The compiler on its own, in this process on tfjs' CPU backend: no worker, no wasm. */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileModel } from '../../../../src/server/engine/tfjs/compile.js';
import { foldBatchNorm } from '../../../../src/server/model/inference-graph.js';
import {
  ArchitectureBuilder,
  type Architecture,
  type BatchNormLayer,
  type Conv2DLayer,
} from '../../../../src/server/model/architecture.js';
import type { Tensor } from '../../../../src/server/model/weights/weight-map.js';
import { evaluateReference, prng, randomWeights, uniform } from '../../../support/reference-model.js';

beforeAll(async () => {
  // IS_TEST silences tfjs' console advice to install tfjs-node.
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
});

/** Even input (20 → 'same' pool pads 0 before, 1 after), a conv with bias, and a value nothing reads. */
function smallArchitecture(): Architecture {
  const b = new ArchitectureBuilder();
  const inputShape = [20, 20, 2] as const;
  let x = b.input('input_1', inputShape);
  x = b.conv(x, 'conv', 6, 3, 1, 'same');
  // Xception's convolutions have no bias; the compiler still folds one.
  b.layers.push({ ...(b.layers.pop() as Conv2DLayer), useBias: true });
  x = b.bn(x, 'conv_bn');
  x = b.relu(x, 'conv_act');
  b.relu(x, 'unused_act');
  x = b.maxPool(x, 'pool');
  x = b.sepconv(x, 'sep', 5);
  x = b.relu(x, 'sep_act');
  x = b.globalAveragePool(x, 'avg_pool');
  b.dense(x, 'predictions', 4);
  return { name: 'small', layers: b.layers, inputShape, classes: 4 };
}

describe('compileModel', () => {
  const arch = smallArchitecture();
  const weights = randomWeights(arch, 99);
  const batch = 3;
  const input = uniform(prng(4), batch * 20 * 20 * 2, -1, 1);

  it('matches the reference evaluator and leaks no tensors', () => {
    const before = tf.memory().numTensors;
    const model = compileModel(tf, arch, weights);
    const image = tf.tensor4d(input, [batch, 20, 20, 2]);
    const during = tf.memory().numTensors;
    const output = model.predict(image);
    expect(tf.memory().numTensors).toBe(during + 1);
    expect(output.shape).toEqual([batch, 4]);
    const expected = evaluateReference(arch, weights, input, batch);
    const actual = output.dataSync();
    for (let i = 0; i < expected.length; i++) expect(actual[i]).toBeCloseTo(expected[i]!, 5);
    tf.dispose([output, image]);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('names the layer it cannot translate', () => {
    const broken: Architecture = {
      ...arch,
      layers: [...arch.layers.slice(0, 1), { kind: 'softmax', name: 'odd', inputs: ['input_1'] } as never],
    };
    const before = tf.memory().numTensors;
    expect(() => compileModel(tf, broken, weights)).toThrow(/odd/);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('foldBatchNorm', () => {
  it('gives conv·s + (b − mean)·s + beta per output channel', () => {
    const norm: BatchNormLayer = { kind: 'batchNorm', name: 'bn', inputs: ['conv'], epsilon: 1e-3 };
    const tensors: Record<string, Tensor> = {
      gamma: { shape: [2], data: Float32Array.of(2, 0.5) },
      beta: { shape: [2], data: Float32Array.of(1, -1) },
      moving_mean: { shape: [2], data: Float32Array.of(0.5, -0.25) },
      moving_variance: { shape: [2], data: Float32Array.of(4 - 1e-3, 1 - 1e-3) },
    };
    // Kernel [1, 1, 2 inputs, 2 outputs]: output channel is the innermost axis.
    const kernel = Float32Array.of(1, 2, 3, 4);
    const { kernel: k, bias } = foldBatchNorm(kernel, Float32Array.of(0.25, 0), norm, (_layer, role) => tensors[role]!);
    // s = gamma / sqrt(var + eps) = [1, 0.5]
    expect([...k]).toEqual([1, 1, 3, 2]);
    expect(bias[0]).toBeCloseTo((0.25 - 0.5) * 1 + 1, 6);
    expect(bias[1]).toBeCloseTo((0 + 0.25) * 0.5 - 1, 6);
  });
});
