import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { weightSpecs } from '../../../../src/server/model/architecture.js';
import { WeightsError, type WeightMap } from '../../../../src/server/model/weights/weight-map.js';
import { seededWeights } from '../../../../src/server/model/weights/seeded.js';
import { loadTfjsLayersModel } from '../../../../src/server/model/weights/tfjs.js';
import { kerasLayers, tinyXception, type KerasLayer } from '../../../support/hdf5-writer.js';

const arch = tinyXception();
const expected = seededWeights(arch, 11).weights;
let dir: string;
let modelCount = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xception-tfjs-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface ManifestWeight {
  name: string;
  shape: number[];
  dtype: string;
}

interface TfjsModelOptions {
  /** Include a Keras topology (model_config) listing the layers in order. */
  topology?: boolean;
  /** Shard size in bytes: small, so tensors straddle shard boundaries. */
  shardBytes?: number;
  /** Split the weights into this many manifest groups. */
  groups?: number;
  /** Edit the manifest entries before writing (dtype, shape, ...). */
  edit?: (weights: ManifestWeight[]) => void;
}

/**
 * Writes model.json plus shards the way tensorflowjs_converter does: weight names without ':0', sorted
 * alphabetically, packed back to back and cut into fixed-size shards. Returns the path of model.json.
 */
async function writeTfjsModel(layers: KerasLayer[], options: TfjsModelOptions = {}): Promise<string> {
  const { topology = true, shardBytes = 1000, groups = 1, edit } = options;
  const modelDir = join(dir, `model-${modelCount++}`);
  await mkdir(modelDir);
  const entries = layers
    .flatMap((layer) => layer.weights)
    .map((w) => ({ name: w.name.replace(/:0$/, ''), shape: [...w.shape], dtype: 'float32', data: w.data }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const perGroup = Math.ceil(entries.length / groups);
  const weightsManifest = [];
  for (let g = 0; g < groups; g++) {
    const groupEntries = entries.slice(g * perGroup, (g + 1) * perGroup);
    const bytes = Buffer.concat(
      groupEntries.map((e) => Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength)),
    );
    const count = Math.max(1, Math.ceil(bytes.length / shardBytes));
    const paths: string[] = [];
    for (let s = 0; s < count; s++) {
      const path = `group${g + 1}-shard${s + 1}of${count}.bin`;
      await writeFile(join(modelDir, path), bytes.subarray(s * shardBytes, (s + 1) * shardBytes));
      paths.push(path);
    }
    const weights = groupEntries.map(({ name, shape, dtype }) => ({ name, shape, dtype }));
    edit?.(weights);
    weightsManifest.push({ paths, weights });
  }
  const modelTopology = topology
    ? {
        keras_version: '2.2.4-tf',
        backend: 'tensorflow',
        model_config: {
          class_name: 'Model',
          config: {
            name: 'xception',
            layers: layers.map((l) => ({ class_name: 'Layer', name: l.name, config: { name: l.name } })),
          },
        },
      }
    : undefined;
  const modelJson = join(modelDir, 'model.json');
  await writeFile(modelJson, JSON.stringify({ format: 'layers-model', modelTopology, weightsManifest }));
  return modelJson;
}

function expectSameWeights(actual: WeightMap, wanted: WeightMap): void {
  for (const spec of weightSpecs(arch)) {
    const tensor = actual.get(spec.layer)?.get(spec.role);
    expect(tensor, `${spec.layer}/${spec.role}`).toBeDefined();
    expect(tensor!.shape).toEqual(spec.shape);
    expect(tensor!.data).toEqual(wanted.get(spec.layer)!.get(spec.role)!.data);
  }
}

/**
 * The naming of ModelHub's keras 2.2.4-tf conversion: layers named block1_conv1, conv2d_4, ...; weights of named
 * layers under a uniquified scope (block1_conv1_1/kernel), of the unnamed ones under their own (conv2d_4/kernel).
 */
function modelHubStyleLayers(): KerasLayer[] {
  return kerasLayers(arch, expected, { naming: 'keras-2.2' }).map((layer) => ({
    name: layer.name,
    weights: layer.weights.map((w) => ({
      ...w,
      name: /^(conv2d|batch_normalization)_\d+\//.test(w.name) ? w.name : w.name.replace('/', '_1/'),
    })),
  }));
}

describe('loadTfjsLayersModel', () => {
  it('loads a ModelHub-style conversion: suffixed scopes, alphabetical manifest, shards split mid-tensor', async () => {
    const layers = modelHubStyleLayers();
    expect(layers.find((l) => l.name === 'block1_conv1')!.weights[0]!.name).toBe('block1_conv1_1/kernel:0');
    const modelJson = await writeTfjsModel(layers, { shardBytes: 999 });
    const loaded = await loadTfjsLayersModel(modelJson, arch);
    expectSameWeights(loaded.weights, expected);
    expect(loaded).toMatchObject({ format: 'tfjs-layers-model', source: modelJson, pretrained: true });

    // SHA-256 over model.json, then the shards in manifest order.
    const manifest = JSON.parse(await readFile(modelJson, 'utf8')).weightsManifest as { paths: string[] }[];
    const hash = createHash('sha256').update(await readFile(modelJson));
    for (const path of manifest.flatMap((g) => g.paths)) hash.update(await readFile(join(modelJson, '..', path)));
    expect(manifest[0]!.paths.length).toBeGreaterThan(1);
    expect(loaded.sha256).toBe(hash.digest('hex'));
  });

  it('loads several manifest groups and a model.json without topology (tf.keras naming)', async () => {
    const modelJson = await writeTfjsModel(kerasLayers(arch, expected, { naming: 'tf.keras' }), {
      topology: false,
      groups: 3,
    });
    expectSameWeights((await loadTfjsLayersModel(modelJson, arch)).weights, expected);
  });

  it('orders unnamed layers by their Keras number, not alphabetically (conv2d_9 before conv2d_10)', async () => {
    const renumber = (name: string): string =>
      name.replace(/^(conv2d|batch_normalization)_(\d+)/, (_, stem: string, n: string) => `${stem}_${Number(n) + 8}`);
    const layers = kerasLayers(arch, expected).map((layer) => ({
      name: renumber(layer.name),
      weights: layer.weights.map((w) => ({ ...w, name: renumber(w.name) })),
    }));
    expect(layers.map((l) => l.name)).toContain('conv2d_10');
    expectSameWeights(
      (await loadTfjsLayersModel(await writeTfjsModel(layers, { topology: false }), arch)).weights,
      expected,
    );
  });

  it('names the layer and both shapes when a tensor has the wrong shape', async () => {
    const layers = kerasLayers(arch, expected);
    const dense = layers.find((l) => l.name === 'predictions')!;
    dense.weights[0] = { name: 'predictions/kernel:0', shape: [8, 4], data: new Float32Array(32) };
    dense.weights[1] = { name: 'predictions/bias:0', shape: [4], data: new Float32Array(4) };
    await expect(loadTfjsLayersModel(await writeTfjsModel(layers), arch)).rejects.toThrow(
      new WeightsError('predictions/kernel: file has [8,4], Xception expects [8,5]'),
    );
  });

  it('rejects weights that are not float32', async () => {
    const modelJson = await writeTfjsModel(kerasLayers(arch, expected), {
      edit: (weights) => {
        weights.find((w) => w.name === 'block1_conv1_bn/gamma')!.dtype = 'int32';
      },
    });
    await expect(loadTfjsLayersModel(modelJson, arch)).rejects.toThrow(
      'block1_conv1_bn/gamma: int32 weights are not supported, expected float32',
    );
  });

  it('rejects shards whose size does not match the manifest', async () => {
    const modelJson = await writeTfjsModel(kerasLayers(arch, expected), {
      edit: (weights) => {
        weights.find((w) => w.name === 'predictions/bias')!.shape = [6];
      },
    });
    await expect(loadTfjsLayersModel(modelJson, arch)).rejects.toThrow(/hold \d+ bytes, the manifest describes \d+/);
  });

  it('rejects a missing shard and a model.json without a manifest', async () => {
    const modelJson = await writeTfjsModel(kerasLayers(arch, expected));
    const manifest = JSON.parse(await readFile(modelJson, 'utf8')).weightsManifest as { paths: string[] }[];
    const shard = manifest[0]!.paths.at(-1)!;
    await rm(join(modelJson, '..', shard));
    await expect(loadTfjsLayersModel(modelJson, arch)).rejects.toThrow(
      `cannot read weights shard ${join(modelJson, '..', shard)}`,
    );

    const noManifest = join(dir, 'no-manifest.json');
    await writeFile(noManifest, JSON.stringify({ format: 'graph-model' }));
    await expect(loadTfjsLayersModel(noManifest, arch)).rejects.toThrow(/no valid weightsManifest/);
  });
});
