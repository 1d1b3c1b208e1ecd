/**
 * Keras HDF5 files that our own writer did not make: written by h5py and by Keras 3 itself
 * (test/fixtures/keras-h5, made once by scripts/make-h5-fixtures.py). The loader must read each into exactly the
 * tensors written, and read it as it reads the same weights written by test/support/hdf5-writer.ts.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Group } from 'h5wasm/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { weightSpecs } from '../../../../src/server/model/architecture.js';
import { loadKerasHdf5 } from '../../../../src/server/model/weights/hdf5.js';
import type { Tensor, WeightMap } from '../../../../src/server/model/weights/weight-map.js';
import { kerasLayers, tinyXception, writeKerasHdf5, type ResidualNaming } from '../../../support/hdf5-writer.js';

const FIXTURES = fileURLToPath(new URL('../../../fixtures/keras-h5/', import.meta.url));
const arch = tinyXception();

/** FNV-1a, 32 bits: fixture_value's hash in scripts/make-h5-fixtures.py. */
function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash;
}

/** The values the script wrote for each tensor: distinct per layer and role, exact in float32. */
function fixtureWeights(): WeightMap {
  const weights = new Map<string, Map<string, Tensor>>();
  for (const spec of weightSpecs(arch)) {
    const hash = fnv1a32(`${spec.layer}/${spec.role}`);
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: size }, (_, i) => ((hash + 40503 * i) % 65536) / 4096 - 8);
    if (!weights.has(spec.layer)) weights.set(spec.layer, new Map());
    weights.get(spec.layer)!.set(spec.role, { shape: spec.shape, data });
  }
  return weights;
}

interface Fixture {
  readonly file: string;
  readonly layout: 'weights-only' | 'full-model';
  readonly naming: ResidualNaming;
  /** How the file stores layer_names and weight_names. */
  readonly strings: 'fixed' | 'variable';
  readonly keras: string;
  /** block1_conv1's weight name, showing the writer's naming of variables. */
  readonly kernelName: string;
  /** Its unnamed residual layers, as the file names them. */
  readonly residual: readonly string[];
}

const FIXTURE_FILES: readonly Fixture[] = [
  {
    file: 'keras2-official-weights.h5',
    layout: 'weights-only',
    naming: 'official',
    strings: 'fixed',
    keras: '2.0.8',
    kernelName: 'block1_conv1/kernel:0',
    residual: ['conv2d_1', 'batch_normalization_1', 'conv2d_2', 'batch_normalization_2'],
  },
  {
    file: 'keras2.2-model-save.h5',
    layout: 'full-model',
    naming: 'keras-2.2',
    strings: 'fixed',
    keras: '2.2.4',
    kernelName: 'block1_conv1_1/kernel:0',
    residual: ['conv2d_4', 'batch_normalization_4', 'conv2d_5', 'batch_normalization_5'],
  },
  {
    file: 'tf.keras-weights.h5',
    layout: 'weights-only',
    naming: 'tf.keras',
    strings: 'fixed',
    keras: '2.4.0',
    kernelName: 'block1_conv1/kernel:0',
    residual: ['conv2d', 'batch_normalization', 'conv2d_1', 'batch_normalization_1'],
  },
  {
    file: 'keras3-model-save.h5',
    layout: 'full-model',
    naming: 'tf.keras',
    strings: 'variable',
    keras: '3.15.1',
    kernelName: 'block1_conv1/kernel',
    residual: ['conv2d', 'batch_normalization', 'conv2d_1', 'batch_normalization_1'],
  },
  {
    file: 'keras3-legacy-weights.h5',
    layout: 'weights-only',
    naming: 'keras-2.2',
    strings: 'variable',
    keras: '3.15.1',
    kernelName: 'block1_conv1/kernel',
    residual: ['conv2d_4', 'batch_normalization_4', 'conv2d_5', 'batch_normalization_5'],
  },
];

function expectSameWeights(actual: WeightMap, wanted: WeightMap): void {
  expect([...actual.keys()].sort()).toEqual([...wanted.keys()].sort());
  for (const spec of weightSpecs(arch)) {
    const tensor = actual.get(spec.layer)?.get(spec.role);
    const label = `${spec.layer}/${spec.role}`;
    expect(tensor, label).toBeDefined();
    expect(tensor!.shape, label).toEqual(spec.shape);
    expect(tensor!.data, label).toEqual(wanted.get(spec.layer)!.get(spec.role)!.data);
  }
}

/** What the fixture holds, read without the loader: guards that each file is the layout the table says. */
async function describeFile(
  path: string,
): Promise<{ layout: string; strings: string; keras: string; layerNames: string[]; kernelName: string }> {
  const h5wasm = await import('h5wasm/node');
  await h5wasm.ready;
  const file = new h5wasm.File(path, 'r');
  try {
    const fullModel = file.keys().includes('model_weights');
    const root = (fullModel ? file.get('model_weights') : file) as Group;
    const layerNames = root.attrs.layer_names!;
    const weightNames = (root.get('block1_conv1') as Group).attrs.weight_names!;
    return {
      layout: fullModel ? 'full-model' : 'weights-only',
      strings: layerNames.metadata.vlen ? 'variable' : 'fixed',
      keras: String(root.attrs.keras_version!.value),
      layerNames: layerNames.value as string[],
      kernelName: (weightNames.value as string[])[0]!,
    };
  } finally {
    file.close();
  }
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xception-h5py-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.each(FIXTURE_FILES)('$file (Keras $keras, $layout, $naming naming)', (fixture) => {
  const path = join(FIXTURES, fixture.file);
  const expected = fixtureWeights();

  it('is the layout it stands for', async () => {
    const found = await describeFile(path);
    expect(found).toMatchObject({
      layout: fixture.layout,
      strings: fixture.strings,
      keras: fixture.keras,
      kernelName: fixture.kernelName,
    });
    expect(found.layerNames.filter((name) => /^(conv2d|batch_normalization)/.test(name))).toEqual(fixture.residual);
    // Keras also lists the weightless layers (input, activations, pooling, adds).
    expect(found.layerNames).toContain('block1_conv1_act');
  });

  it('loads into exactly the tensors written', async () => {
    const loaded = await loadKerasHdf5(path, arch);
    expectSameWeights(loaded.weights, expected);
    expect(loaded).toMatchObject({ format: 'keras-hdf5', source: path, pretrained: true });
    expect(loaded.sha256).toBe(
      createHash('sha256')
        .update(await readFile(path))
        .digest('hex'),
    );
  });

  it('loads like the same weights written by our own writer', async () => {
    const ours = join(dir, fixture.file);
    await writeKerasHdf5(ours, kerasLayers(arch, expected, { naming: fixture.naming }), {
      layout: fixture.layout,
      strings: fixture.strings,
    });
    const [fromFixture, fromOurs] = await Promise.all([loadKerasHdf5(path, arch), loadKerasHdf5(ours, arch)]);
    expectSameWeights(fromOurs.weights, fromFixture.weights);
  });
});
