import { describe, expect, it } from 'vitest';
import { packWeights, unpackWeights } from '../../../../src/server/engine/tfjs/weight-pack.js';
import { ArchitectureBuilder, weightSpecs, type Architecture } from '../../../../src/server/model/architecture.js';
import { WeightsError, type Tensor, type WeightMap } from '../../../../src/server/model/weights/weight-map.js';
import { randomWeights } from '../../../support/reference-model.js';

function architecture(): Architecture {
  const b = new ArchitectureBuilder();
  let x = b.input('input_1', [5, 5, 3]);
  x = b.conv(x, 'conv', 4, 3, 1, 'valid');
  x = b.bn(x, 'conv_bn');
  x = b.globalAveragePool(x, 'avg_pool');
  b.dense(x, 'predictions', 2);
  return { name: 'pack', layers: b.layers, inputShape: [5, 5, 3], classes: 2 };
}

function withTensor(weights: WeightMap, layer: string, role: string, tensor: Tensor): WeightMap {
  const copy = new Map(weights);
  copy.set(layer, new Map(weights.get(layer)!).set(role, tensor));
  return copy;
}

describe('packWeights', () => {
  const arch = architecture();
  const weights = randomWeights(arch, 1);

  it('round-trips every weight into one buffer, in Keras order, without touching the originals', () => {
    // A view into a larger buffer, as a weights-file reader may hand out.
    const file = new Float32Array(1000).fill(7);
    const kernel = weights.get('conv')!.get('kernel')!;
    file.set(kernel.data, 100);
    const view = file.subarray(100, 100 + kernel.data.length);
    const viewed = withTensor(weights, 'conv', 'kernel', { shape: kernel.shape, data: view });

    const packed = packWeights(arch, viewed);
    const specs = weightSpecs(arch);
    expect(packed.entries.map((e) => `${e.layer}/${e.role}`)).toEqual(specs.map((s) => `${s.layer}/${s.role}`));
    expect(packed.data.length).toBe(specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0));
    expect(packed.data.buffer).not.toBe(file.buffer);

    const unpacked = unpackWeights(packed);
    for (const spec of specs) {
      const original = weights.get(spec.layer)!.get(spec.role)!;
      const copy = unpacked.get(spec.layer)!.get(spec.role)!;
      expect(copy.shape).toEqual(spec.shape);
      expect(copy.data).toEqual(original.data);
    }
  });

  it('names the layer and role of a missing weight', () => {
    const missing = new Map(weights);
    missing.set('conv_bn', new Map([...weights.get('conv_bn')!].filter(([role]) => role !== 'moving_variance')));
    expect(() => packWeights(arch, missing)).toThrow(WeightsError);
    expect(() => packWeights(arch, missing)).toThrow(/conv_bn.*moving_variance/);
  });

  it('names both shapes of a misshapen weight', () => {
    const wrong = withTensor(weights, 'predictions', 'kernel', { shape: [2, 4], data: new Float32Array(8) });
    expect(() => packWeights(arch, wrong)).toThrow(/predictions.*\[2, 4\].*expected \[4, 2\]/);
  });
});
