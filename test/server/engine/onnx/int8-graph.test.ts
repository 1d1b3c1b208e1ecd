/**
 * The int8 (QDQ) graph, op by op on small architectures: calibrated on some random images, it must stay close to the
 * fp32 graph on others, and ONNX Runtime must run its convolutions as integer kernels. The bound is checked to be
 * discriminating: a wrong kernel scale, a wrong bias scale or a zero point that Quantize and Dequantize disagree on
 * breaks it.
 */
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { ModelProto, TensorProto_DataType } from '../../../../src/gen/onnx/onnx.js';
import { ArchitectureBuilder, type Architecture } from '../../../../src/server/model/architecture.js';
import type { WeightMap } from '../../../../src/server/model/weights/weight-map.js';
import {
  activationRanges,
  collectActivationStats,
  type CalibrationMethod,
} from '../../../../src/server/engine/onnx/calibrate.js';
import {
  compileCalibrationModel,
  compileOnnxModel,
  INPUT_NAME,
  OUTPUT_NAME,
} from '../../../../src/server/engine/onnx/graph.js';
import { createOnnxEngine } from '../../../../src/server/engine/onnx/onnx-engine.js';
import { convolutionKinds, optimizedOpCounts } from '../../../../src/server/engine/onnx/optimized-ops.js';
import type { ActivationRanges } from '../../../../src/server/engine/onnx/quantize.js';
import { runTensors } from '../../../../src/server/engine/tensor-slab.js';
import { prng, randomWeights, uniform } from '../../../support/reference-model.js';

const CLASSES = 10;
const SIZE = 16;
/** Relative logit error of int8 against fp32 that calibrated 8-bit arithmetic stays under (measured: ≤ 0.005). */
const BOUND = 0.02;

type Build = (b: ArchitectureBuilder, x: string) => string;

function arch(name: string, body: Build): Architecture {
  const b = new ArchitectureBuilder();
  const inputShape = [SIZE, SIZE, 3] as const;
  let x = body(b, b.input('input_1', inputShape));
  x = b.globalAveragePool(x, 'avg_pool');
  b.dense(x, 'predictions', CLASSES);
  return { name, layers: b.layers, inputShape, classes: CLASSES };
}

/** One network per quantised operator, each ending in global pooling and a dense softmax. */
const NETWORKS: Record<string, Architecture> = {
  'conv + folded BN + ReLU (absorbed into the output quantisation)': arch('conv-relu', (b, x) =>
    b.relu(b.bn(b.conv(x, 'conv', 8, 3, 2, 'valid'), 'conv_bn'), 'conv_act'),
  ),
  "conv with a two-sided output ('same' padding, no ReLU)": arch('conv-same', (b, x) =>
    b.bn(b.conv(x, 'conv', 8, 3, 1, 'same'), 'conv_bn'),
  ),
  'separable conv (depthwise, then pointwise with BN)': arch('sepconv', (b, x) => {
    x = b.relu(b.bn(b.conv(x, 'conv', 8, 3, 1, 'same'), 'conv_bn'), 'conv_act');
    return b.bn(b.sepconv(x, 'sep', 12), 'sep_bn');
  }),
  'max pool and residual add, then a ReLU that is not absorbed': arch('pool-add', (b, x) => {
    x = b.relu(b.bn(b.conv(x, 'conv', 8, 3, 1, 'same'), 'conv_bn'), 'conv_act');
    const residual = b.residual(x, 16);
    x = b.maxPool(b.bn(b.sepconv(x, 'sep', 16), 'sep_bn'), 'pool');
    x = b.add(x, residual, 'add');
    return b.bn(b.sepconv(b.relu(x, 'add_act'), 'sep2', 16), 'sep2_bn');
  }),
};

function images(count: number, seed: number): Float32Array[] {
  const random = prng(seed);
  return Array.from({ length: count }, () => uniform(random, SIZE * SIZE * 3, -1, 1));
}

async function calibrate(
  network: Architecture,
  weights: WeightMap,
  method: CalibrationMethod = 'percentile',
): Promise<ActivationRanges> {
  return activationRanges(await collectActivationStats(network, weights, images(8, 101), { threads: 1 }), method);
}

async function run(model: Uint8Array, image: Float32Array): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all', intraOpNumThreads: 1 });
  try {
    const results = await session.run({ [INPUT_NAME]: new ort.Tensor('float32', image, [1, SIZE, SIZE, 3]) });
    return results[OUTPUT_NAME]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

/**
 * How far int8's logits are from fp32's, relative to fp32's logit spread: log-probabilities are logits less a
 * constant, so the differences are compared after removing their mean.
 */
function logitError(fp32: Float32Array, int8: Float32Array): number {
  const diff = Array.from(fp32, (p, i) => Math.log(int8[i]!) - Math.log(p));
  const mean = diff.reduce((a, b) => a + b, 0) / diff.length;
  const logits = Array.from(fp32, Math.log);
  return Math.max(...diff.map((d) => Math.abs(d - mean))) / (Math.max(...logits) - Math.min(...logits));
}

/** The worst logit error over held-out images (not the calibration ones). */
async function worstError(fp32: Uint8Array, int8: Uint8Array): Promise<number> {
  let worst = 0;
  for (const image of images(4, 202))
    worst = Math.max(worst, logitError(await run(fp32, image), await run(int8, image)));
  return worst;
}

/** The model with one initializer's values changed (as float32 or uint8, by its type). */
function withInitializer(model: Uint8Array, name: string, change: (values: number[]) => number[]): Uint8Array {
  const proto = ModelProto.decode(model);
  const tensor = proto.graph!.initializer.find((t) => t.name === name);
  if (tensor === undefined) throw new Error(`no initializer ${name}`);
  const bytes = Buffer.from(tensor.rawData);
  if (tensor.dataType === TensorProto_DataType.FLOAT) {
    const values = change(Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)));
    tensor.rawData = Buffer.from(Float32Array.from(values).buffer);
  } else {
    tensor.rawData = Buffer.from(Uint8Array.from(change(Array.from(bytes))));
  }
  return ModelProto.encode(proto).finish();
}

/** The model with DequantizeLinear of `tensor` reading its own copy of the zero point, changed; Quantize keeps the old one. */
function withDequantizeZeroPoint(model: Uint8Array, tensor: string, delta: number): Uint8Array {
  const proto = ModelProto.decode(model);
  const graph = proto.graph!;
  const zeroPoint = graph.initializer.find((t) => t.name === `${tensor}/zero_point`)!;
  graph.initializer.push({
    ...zeroPoint,
    name: `${tensor}/wrong_zero_point`,
    rawData: Uint8Array.of(zeroPoint.rawData[0]! + delta),
  });
  const dequantize = graph.node.find((n) => n.name === `${tensor}/dequantize`)!;
  dequantize.input[2] = `${tensor}/wrong_zero_point`;
  return ModelProto.encode(proto).finish();
}

describe('int8 graph vs fp32, op by op', () => {
  it.each(Object.entries(NETWORKS))(
    '%s: close to fp32, every convolution on int8',
    async (_, network) => {
      const weights = randomWeights(network, 5);
      const ranges = await calibrate(network, weights);
      const fp32 = compileOnnxModel(network, weights);
      const int8 = compileOnnxModel(network, weights, { precision: { kind: 'int8', ranges } });
      expect(await worstError(fp32, int8)).toBeLessThan(BOUND);

      const kinds = convolutionKinds(await optimizedOpCounts(int8));
      expect(kinds.float).toBe(0);
      expect(kinds.integer).toBe(convolutionKinds(await optimizedOpCounts(fp32)).float);
    },
    60_000,
  );

  it('the bound catches a wrong kernel scale, a wrong bias scale and a zero point Quantize and Dequantize disagree on', async () => {
    const network = NETWORKS["conv with a two-sided output ('same' padding, no ReLU)"]!;
    const weights = randomWeights(network, 5);
    const ranges = await calibrate(network, weights);
    const fp32 = compileOnnxModel(network, weights);
    const int8 = compileOnnxModel(network, weights, { precision: { kind: 'int8', ranges } });
    expect(await worstError(fp32, int8)).toBeLessThan(BOUND);

    const kernelScale = withInitializer(int8, 'conv/kernel/scale', (scales) => scales.map((s) => s * 1.25));
    expect(await worstError(fp32, kernelScale)).toBeGreaterThan(BOUND);
    const biasScale = withInitializer(int8, 'conv/bias/scale', (scales) => scales.map((s) => s * 4));
    expect(await worstError(fp32, biasScale)).toBeGreaterThan(BOUND);
    const zeroPoint = withDequantizeZeroPoint(int8, 'conv_bn', 12);
    expect(await worstError(fp32, zeroPoint)).toBeGreaterThan(BOUND);
  }, 60_000);

  it('the int8 engine runs the graph ORT runs, batched like the fp32 engine', async () => {
    const network = NETWORKS['max pool and residual add, then a ReLU that is not absorbed']!;
    const weights = randomWeights(network, 9);
    const ranges = await calibrate(network, weights);
    const engine = await createOnnxEngine(network, weights, { threads: 1, int8: { ranges } });
    try {
      const [first, second] = images(2, 303);
      const both = await runTensors(engine, Float32Array.of(...first!, ...second!), 2);
      const int8 = compileOnnxModel(network, weights, { precision: { kind: 'int8', ranges } });
      const expected = [...(await run(int8, first!)), ...(await run(int8, second!))];
      both.forEach((p, i) => expect(p).toBeCloseTo(expected[i]!, 6));
    } finally {
      await engine.close();
    }
  }, 60_000);

  it('exposes every quantisation point for calibration and needs a range for each', async () => {
    const network = NETWORKS['max pool and residual add, then a ReLU that is not absorbed']!;
    const weights = randomWeights(network, 5);
    const { tensors } = compileCalibrationModel(network, weights);
    expect(tensors).toEqual(
      expect.arrayContaining(['input_1/nchw', 'conv_bn', 'conv_act', 'sep/depthwise', 'sep_bn', 'add', 'add_act']),
    );
    // The pool shares its input's range; the classifier stays float.
    expect(tensors).not.toContain('pool');
    expect(tensors).not.toContain('predictions');

    const ranges = new Map(await calibrate(network, weights));
    ranges.delete('add');
    expect(() => compileOnnxModel(network, weights, { precision: { kind: 'int8', ranges } })).toThrow(
      /no calibrated range for tensor add/,
    );
  }, 60_000);
});
