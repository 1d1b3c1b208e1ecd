import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { weightSpecs, xception } from '../../../../src/server/model/architecture.js';
import { WeightsError, type WeightMap } from '../../../../src/server/model/weights/weight-map.js';
import { sha256Tensors } from '../../../../src/server/model/weights/digest.js';
import { loadKerasHdf5 } from '../../../../src/server/model/weights/hdf5.js';
import { seededWeights } from '../../../../src/server/model/weights/seeded.js';
import {
  kerasLayers,
  tinyXception,
  writeKerasHdf5,
  type KerasLayer,
  type ResidualNaming,
} from '../../../support/hdf5-writer.js';

const arch = tinyXception();
const expected = seededWeights(arch, 7).weights;
let dir: string;
let fileCount = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xception-hdf5-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(layers: KerasLayer[], options?: Parameters<typeof writeKerasHdf5>[2]): Promise<string> {
  const path = join(dir, `weights-${fileCount++}.h5`);
  await writeKerasHdf5(path, layers, options);
  return path;
}

function expectSameWeights(actual: WeightMap, wanted: WeightMap): void {
  for (const spec of weightSpecs(arch)) {
    const tensor = actual.get(spec.layer)?.get(spec.role);
    expect(tensor, `${spec.layer}/${spec.role}`).toBeDefined();
    expect(tensor!.shape).toEqual(spec.shape);
    expect(tensor!.data).toEqual(wanted.get(spec.layer)!.get(spec.role)!.data);
  }
  expect([...actual.keys()].sort()).toEqual([...wanted.keys()].sort());
}

/** A deterministic shuffle, so a failure reproduces. */
function shuffled<T>(items: T[]): T[] {
  const out = [...items];
  let state = 12345;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2147483648;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('loadKerasHdf5', () => {
  it('loads the weights-only layout with fixed-length string attributes', async () => {
    const path = await write(kerasLayers(arch, expected), { layout: 'weights-only', strings: 'fixed' });
    const loaded = await loadKerasHdf5(path, arch);
    expectSameWeights(loaded.weights, expected);
    expect(loaded).toMatchObject({ format: 'keras-hdf5', source: path, pretrained: true });
    expect(loaded.seed).toBeUndefined();
    expect(loaded.sha256).toBe(
      createHash('sha256')
        .update(await readFile(path))
        .digest('hex'),
    );
  });

  it('loads the full-model layout (/model_weights) with variable-length string attributes', async () => {
    const path = await write(kerasLayers(arch, expected), { layout: 'full-model', strings: 'variable' });
    expectSameWeights((await loadKerasHdf5(path, arch)).weights, expected);
  });

  it.each<ResidualNaming>(['official', 'keras-2.2', 'tf.keras'])(
    'matches the unnamed residual layers by order under %s naming',
    async (naming) => {
      const layers = kerasLayers(arch, expected, { naming });
      const names = layers.map((l) => l.name);
      expect(names.filter((n) => n.startsWith('conv2d'))).toEqual(
        {
          official: ['conv2d_1', 'conv2d_2'],
          'keras-2.2': ['conv2d_4', 'conv2d_5'],
          'tf.keras': ['conv2d', 'conv2d_1'],
        }[naming],
      );
      expectSameWeights((await loadKerasHdf5(await write(layers), arch)).weights, expected);
    },
  );

  it('reads weight names with a uniquified variable scope (block1_conv1_1/kernel:0)', async () => {
    const path = await write(kerasLayers(arch, expected, { naming: 'tf.keras', variableSuffix: '_1' }));
    expectSameWeights((await loadKerasHdf5(path, arch)).weights, expected);
  });

  it('does not depend on the order of layer_names', async () => {
    const layers = shuffled(kerasLayers(arch, expected, { naming: 'keras-2.2' }));
    expect(layers.map((l) => l.name)).not.toEqual(
      kerasLayers(arch, expected, { naming: 'keras-2.2' }).map((l) => l.name),
    );
    expectSameWeights((await loadKerasHdf5(await write(layers), arch)).weights, expected);
  });

  it('accepts files without the weightless layers', async () => {
    const path = await write(kerasLayers(arch, expected, { weightless: false }));
    expectSameWeights((await loadKerasHdf5(path, arch)).weights, expected);
  });

  it('names the layer and both shapes when a tensor has the wrong shape', async () => {
    const layers = kerasLayers(arch, expected);
    const sepconv = layers.find((l) => l.name === 'block3_sepconv1')!;
    sepconv.weights[0] = {
      name: 'block3_sepconv1/depthwise_kernel:0',
      shape: [3, 3, 5, 1],
      data: new Float32Array(45),
    };
    const error = await loadKerasHdf5(await write(layers), arch).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WeightsError);
    expect((error as Error).message).toBe(
      'block3_sepconv1/depthwise_kernel: file has [3,3,5,1], Xception expects [3,3,6,1]',
    );
  });

  it('names an unnamed residual layer by both names when its shape is wrong', async () => {
    const layers = kerasLayers(arch, expected, { naming: 'keras-2.2' });
    const conv = layers.find((l) => l.name === 'conv2d_5')!;
    conv.weights[0] = { name: 'conv2d_5/kernel:0', shape: [1, 1, 6, 9], data: new Float32Array(54) };
    await expect(loadKerasHdf5(await write(layers), arch)).rejects.toThrow(
      "conv2d_5 (Xception's conv2d_2)/kernel: file has [1,1,6,9], Xception expects [1,1,6,8]",
    );
  });

  it('names a missing layer', async () => {
    const layers = kerasLayers(arch, expected).filter((l) => l.name !== 'block2_sepconv1_bn');
    await expect(loadKerasHdf5(await write(layers), arch)).rejects.toThrow(
      new WeightsError('block2_sepconv1_bn: layer missing from the weights file'),
    );
  });

  it('names a missing tensor', async () => {
    const layers = kerasLayers(arch, expected);
    const bn = layers.find((l) => l.name === 'block1_conv1_bn')!;
    bn.weights = bn.weights.filter((w) => !w.name.includes('moving_variance'));
    await expect(loadKerasHdf5(await write(layers), arch)).rejects.toThrow(
      'block1_conv1_bn/moving_variance: missing from the weights file',
    );
  });

  it('fails when the count of unnamed residual layers differs', async () => {
    const layers = kerasLayers(arch, expected).filter((l) => l.name !== 'batch_normalization_2');
    await expect(loadKerasHdf5(await write(layers), arch)).rejects.toThrow(
      /has 1 unnamed BatchNormalization layers \(batch_normalization_1\), Xception expects 2/,
    );
  });

  it('fails on a weighted layer the model does not have', async () => {
    const layers = kerasLayers(arch, expected);
    layers.push({
      name: 'block99_sepconv1',
      weights: [{ name: 'block99_sepconv1/depthwise_kernel:0', shape: [3, 3, 8, 1], data: new Float32Array(72) }],
    });
    await expect(loadKerasHdf5(await write(layers), arch)).rejects.toThrow(
      /^block99_sepconv1: the weights file has this layer/,
    );
  });

  it('rejects a file that is not HDF5, and a missing file', async () => {
    const notHdf5 = join(dir, 'not-hdf5.h5');
    await writeFile(notHdf5, 'this is not an HDF5 file');
    await expect(loadKerasHdf5(notHdf5, arch)).rejects.toThrow(`${notHdf5}: not an HDF5 file`);
    await expect(loadKerasHdf5(join(dir, 'absent.h5'), arch)).rejects.toThrow(WeightsError);
  });

  it('rejects a truncated file with a WeightsError', async () => {
    const path = await write(kerasLayers(arch, expected));
    const bytes = await readFile(path);
    const kept = Math.floor(bytes.length * 0.6);
    await writeFile(path, bytes.subarray(0, kept));
    await expect(loadKerasHdf5(path, arch)).rejects.toThrow(
      new WeightsError(
        `${path}: truncated: the file has ${kept} bytes, its HDF5 header says ${bytes.length}; download it again`,
      ),
    );
  });

  it('rejects an HDF5 file without Keras layer_names', async () => {
    const h5wasm = await import('h5wasm/node');
    await h5wasm.ready;
    const path = join(dir, 'plain.h5');
    const file = new h5wasm.File(path, 'w');
    file.create_group('layers');
    file.close();
    await expect(loadKerasHdf5(path, arch)).rejects.toThrow(/not a Keras HDF5 weights file/);
  });

  it('round-trips the full Xception in the official layout', async () => {
    const full = xception();
    const seeded = seededWeights(full, 3);
    const path = await write(kerasLayers(full, seeded.weights, { naming: 'official' }));
    const loaded = await loadKerasHdf5(path, full);
    const specs = weightSpecs(full);
    expect(specs).toHaveLength(236);
    expect(sha256Tensors(specs.map((s) => loaded.weights.get(s.layer)!.get(s.role)!))).toBe(seeded.sha256);
  }, 30_000);
});
