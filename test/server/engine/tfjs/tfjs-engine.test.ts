import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOnnxEngine } from '../../../../src/server/engine/onnx/onnx-engine.js';
import { createTfjsEngine } from '../../../../src/server/engine/tfjs/tfjs-engine.js';
import type { Engine } from '../../../../src/server/engine/engine.js';
import { runTensors } from '../../../../src/server/engine/tensor-slab.js';
import { ArchitectureBuilder, xception, type Architecture } from '../../../../src/server/model/architecture.js';
import { WeightsError } from '../../../../src/server/model/weights/weight-map.js';
import { evaluateReference, prng, randomWeights, uniform } from '../../../support/reference-model.js';
import { expectedTfjsBackend } from '../../../support/tfjs-backend.js';

/**
 * A small net with every layer kind and the awkward cases: odd input (33), 'valid' stride-2 conv, 'same' max pool
 * with asymmetric padding (16 → 8 pads 0 before, 1 after), a strided residual, values read by two layers, and a
 * BatchNorm and a ReLU that cannot be folded into a convolution (they follow an add).
 */
function tinyArchitecture(): Architecture {
  const b = new ArchitectureBuilder();
  const inputShape = [33, 33, 3] as const;
  let x = b.input('input_1', inputShape);
  x = b.conv(x, 'stem_conv', 8, 3, 2, 'valid');
  x = b.bn(x, 'stem_bn');
  x = b.relu(x, 'stem_act');
  const residual = b.residual(x, 16);
  x = b.sepconv(x, 'sep1', 12);
  x = b.bn(x, 'sep1_bn');
  x = b.relu(x, 'sep1_act');
  x = b.sepconv(x, 'sep2', 16);
  x = b.bn(x, 'sep2_bn');
  x = b.maxPool(x, 'pool');
  x = b.add(x, residual, 'add_1');
  x = b.bn(x, 'post_add_bn');
  const shortcut = b.relu(x, 'post_add_act');
  x = b.sepconv(shortcut, 'sep3', 16);
  x = b.bn(x, 'sep3_bn');
  x = b.add(x, shortcut, 'add_2');
  x = b.globalAveragePool(x, 'avg_pool');
  b.dense(x, 'predictions', 10);
  return { name: 'tiny', layers: b.layers, inputShape, classes: 10 };
}

const imageSize = (arch: Architecture): number => arch.inputShape.reduce((a, b) => a * b, 1);

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe('tfjs engine on a tiny architecture', () => {
  const arch = tinyArchitecture();
  const weights = randomWeights(arch, 11);
  const batch = 2;
  const input = uniform(prng(5), batch * imageSize(arch), -1, 1);
  const expected = evaluateReference(arch, weights, input, batch);
  let engine: Engine;

  beforeAll(async () => {
    engine = await createTfjsEngine(arch, weights, { threads: 1 });
  });

  afterAll(async () => {
    await engine?.close();
  });

  it('matches the reference evaluator with one thread', async () => {
    expect(engine.info).toEqual({ engine: 'tfjs', ...expectedTfjsBackend(1), instances: 1 });
    const output = await runTensors(engine, input, batch);
    expect(output).toBeInstanceOf(Float32Array);
    expect(maxAbsDiff(output, expected)).toBeLessThan(1e-5);
    // The reference must not be trivially flat, or the comparison would prove little.
    expect(Math.max(...expected) - Math.min(...expected)).toBeGreaterThan(0.05);
  });

  it('matches the reference evaluator with two threads (the threaded wasm build where tfjs-node is absent)', async () => {
    const threaded = await createTfjsEngine(arch, weights, { threads: 2 });
    try {
      expect(threaded.info).toEqual({ engine: 'tfjs', ...expectedTfjsBackend(2), instances: 1 });
      expect(maxAbsDiff(await runTensors(threaded, input, batch), expected)).toBeLessThan(1e-5);
    } finally {
      await threaded.close();
    }
  });

  it("leaves the caller's input and weights usable", async () => {
    const copy = input.slice();
    await runTensors(engine, input, batch);
    expect(input).toEqual(copy);
    expect(weights.get('stem_conv')!.get('kernel')!.data.byteLength).toBeGreaterThan(0);
  });

  it('rejects input of the wrong size without disturbing later runs', async () => {
    await expect(runTensors(engine, input.subarray(1), batch)).rejects.toThrow(/needs/);
    await expect(runTensors(engine, input, 0)).rejects.toThrow(/batch/);
    expect(maxAbsDiff(await runTensors(engine, input, batch), expected)).toBeLessThan(1e-5);
  });

  it('refuses missing weights before starting a worker', async () => {
    const incomplete = new Map(weights);
    incomplete.delete('sep2_bn');
    await expect(createTfjsEngine(arch, incomplete, { threads: 1 })).rejects.toThrow(WeightsError);
  });

  it('close() rejects the run in flight, is idempotent, and refuses later runs', async () => {
    const closing = await createTfjsEngine(arch, weights, { threads: 1 });
    const inFlight = expect(runTensors(closing, input, batch)).rejects.toThrow(/closed/);
    await closing.close();
    await inFlight;
    await closing.close();
    await expect(runTensors(closing, input, batch)).rejects.toThrow(/closed/);
  });
});

describe('tfjs engine on full Xception', () => {
  const arch = xception();
  const batch = 2;
  const input = uniform(prng(42), batch * imageSize(arch), -1, 1);
  let tfjs: Engine;
  let onnx: Engine;

  beforeAll(async () => {
    const weights = randomWeights(arch, 2024);
    [tfjs, onnx] = await Promise.all([
      createTfjsEngine(arch, weights, { threads: 2 }),
      createOnnxEngine(arch, weights, { threads: 2 }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([tfjs?.close(), onnx?.close()]);
  });

  it('agrees with the onnx engine to 1e-4 in every probability', async () => {
    const fromTfjs = await runTensors(tfjs, input, batch);
    const fromOnnx = await runTensors(onnx, input, batch);
    expect(fromTfjs.length).toBe(batch * 1000);
    expect(maxAbsDiff(fromTfjs, fromOnnx)).toBeLessThanOrEqual(1e-4);
    for (let b = 0; b < batch; b++) {
      const row = fromTfjs.subarray(b * 1000, (b + 1) * 1000);
      expect(row.reduce((s, p) => s + p, 0)).toBeCloseTo(1, 4);
    }
    // Two different images must give two different answers, or the net has collapsed and parity proves nothing.
    expect(maxAbsDiff(fromTfjs.subarray(0, 1000), fromTfjs.subarray(1000))).toBeGreaterThan(1e-4);
  });

  it('keeps the event loop turning while a run is in flight', async () => {
    let settled = false;
    const running = runTensors(tfjs, input.subarray(0, imageSize(arch)), 1).finally(() => {
      settled = true;
    });
    // Each turn is a whole pass of the event loop. A run computed on this thread would hold every turn back until it
    // had returned; computed in the worker, the turns go on while the run is still pending. The count is of turns
    // seen with the run pending, a state, not of milliseconds.
    const wanted = 20;
    let turnsWhileRunning = 0;
    while (!settled && turnsWhileRunning < wanted) {
      await new Promise((resolve) => setImmediate(resolve));
      if (!settled) turnsWhileRunning++;
    }
    expect(turnsWhileRunning).toBe(wanted);
    expect(await running).toHaveLength(1000);
  });
});
