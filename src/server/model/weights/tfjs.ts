/**
 * TensorFlow.js layers-model weights: model.json's `weightsManifest` lists groups of shard files, and for each
 * group the tensors packed back to back across its concatenated shards.
 */

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { weightedLayers, type Architecture } from '../architecture.js';
import { WeightsError, type LoadedWeights } from './weight-map.js';
import { matchLayers, roleOf, type FileLayer, type FileTensor } from './match.js';

interface ManifestEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: unknown;
}

interface ManifestGroup {
  paths: string[];
  weights: ManifestEntry[];
}

function isManifest(value: unknown): value is ManifestGroup[] {
  return (
    Array.isArray(value) &&
    value.every(
      (group) =>
        Array.isArray(group?.paths) &&
        group.paths.every((p: unknown) => typeof p === 'string') &&
        Array.isArray(group?.weights) &&
        group.weights.every(
          (w: Partial<ManifestEntry> | null) =>
            typeof w?.name === 'string' &&
            typeof w.dtype === 'string' &&
            Array.isArray(w.shape) &&
            w.shape.every((d) => Number.isInteger(d) && d >= 0),
        ),
    )
  );
}

/**
 * Layer names in the topology's order. model.json nests the Keras config as modelTopology.model_config (converter
 * 1.x) or puts it at modelTopology itself; a Sequential config may be the layer list directly.
 */
function topologyLayerNames(modelTopology: unknown): string[] {
  const topology = modelTopology as { model_config?: unknown } | undefined;
  const config = ((topology?.model_config ?? topology) as { config?: unknown } | undefined)?.config;
  const layers = Array.isArray(config) ? config : (config as { layers?: unknown } | undefined)?.layers;
  if (!Array.isArray(layers)) return [];
  return layers
    .map((layer) => (layer as { name?: unknown; config?: { name?: unknown } }).name ?? layer?.config?.name)
    .filter((name): name is string => typeof name === 'string');
}

/**
 * The layer a weight belongs to. A weight name's prefix is its TensorFlow variable scope, which is usually the layer
 * name but gets a '_1' suffix when the graph already held that name ('block1_conv1_1/kernel' of layer
 * 'block1_conv1' in the keras 2.2.4-tf conversion ModelHub used). Prefer a layer named exactly so; else strip
 * '_N' suffixes while that leads to a known layer.
 */
function layerOf(prefix: string, known: ReadonlySet<string>): string {
  if (known.has(prefix)) return prefix;
  for (let name = prefix; /_\d+$/.test(name); ) {
    name = name.replace(/_\d+$/, '');
    if (known.has(name)) return name;
  }
  return prefix;
}

/** Loads TF.js layers-model weights (float32 only) for `arch`; throws WeightsError naming what does not fit. */
export async function loadTfjsLayersModel(modelJsonPath: string, arch: Architecture): Promise<LoadedWeights> {
  let json: Buffer;
  try {
    json = await readFile(modelJsonPath);
  } catch (error) {
    throw new WeightsError(`cannot read ${modelJsonPath}: ${(error as Error).message}`, { cause: error });
  }
  let model: { weightsManifest?: unknown; modelTopology?: unknown };
  try {
    model = JSON.parse(json.toString('utf8'));
  } catch (error) {
    throw new WeightsError(`${modelJsonPath}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  if (!isManifest(model?.weightsManifest)) {
    throw new WeightsError(`${modelJsonPath}: no valid weightsManifest; not a TensorFlow.js layers model`);
  }

  // With a topology, names resolve against the model's own layers; without one, against the architecture's names.
  const topology = topologyLayerNames(model.modelTopology);
  const known = new Set(
    topology.length > 0
      ? topology
      : weightedLayers(arch)
          .filter((l) => !('anonymous' in l && l.anonymous))
          .map((l) => l.name),
  );

  const hash = createHash('sha256').update(json);
  const directory = dirname(modelJsonPath);
  const layers = new Map<string, FileTensor[]>();
  for (const group of model.weightsManifest) {
    const shards: Buffer[] = [];
    for (const shardPath of group.paths) {
      const fullPath = resolve(directory, shardPath);
      let shard: Buffer;
      try {
        shard = await readFile(fullPath);
      } catch (error) {
        throw new WeightsError(`cannot read weights shard ${fullPath}: ${(error as Error).message}`, { cause: error });
      }
      hash.update(shard);
      shards.push(shard);
    }
    const bytes = Buffer.concat(shards);

    let offset = 0;
    for (const entry of group.weights) {
      const prefix = entry.name.includes('/') ? entry.name.slice(0, entry.name.lastIndexOf('/')) : entry.name;
      const layer = layerOf(prefix, known);
      if (entry.dtype !== 'float32' || entry.quantization !== undefined) {
        const kind = entry.quantization !== undefined ? 'quantized ' : '';
        throw new WeightsError(
          `${layer}/${roleOf(entry.name)}: ${kind}${entry.dtype} weights are not supported, expected float32`,
        );
      }
      const byteLength = entry.shape.reduce((a, b) => a * b, 1) * Float32Array.BYTES_PER_ELEMENT;
      const start = offset;
      offset += byteLength;
      // Copy out: a slice of a Buffer need not be 4-byte aligned for a Float32Array view.
      const read = (): Float32Array =>
        new Float32Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + start + byteLength));
      const tensors = layers.get(layer) ?? [];
      tensors.push({ role: roleOf(entry.name), shape: entry.shape, read });
      layers.set(layer, tensors);
    }
    if (offset !== bytes.length) {
      throw new WeightsError(
        `${modelJsonPath}: shards ${group.paths.join(', ')} hold ${bytes.length} bytes, the manifest describes ${offset}`,
      );
    }
  }

  const order = new Map(topology.map((name, i) => [name, i]));
  const fileLayers: FileLayer[] = [...layers].map(([name, tensors]) => ({ name, tensors }));
  if (order.size > 0) fileLayers.sort((a, b) => (order.get(a.name) ?? order.size) - (order.get(b.name) ?? order.size));

  return {
    weights: matchLayers(fileLayers, arch),
    format: 'tfjs-layers-model',
    source: modelJsonPath,
    sha256: hash.digest('hex'),
    pretrained: true,
  };
}
