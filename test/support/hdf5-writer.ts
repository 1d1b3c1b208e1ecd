/**
 * Writes Keras-layout HDF5 weight files with h5wasm, as Keras 2 / tf.keras would, so tests can load real files:
 * root (save_weights) or /model_weights (model.save) holding `layer_names`; one group per layer with
 * `weight_names`; datasets at <layer>/<weight name>.
 */

import { ArchitectureBuilder, weightSpecs, type Architecture } from '../../src/server/model/architecture.js';
import type { WeightMap } from '../../src/server/model/weights/weight-map.js';

/** How a Keras version names the unnamed residual layers. */
export type ResidualNaming = 'official' | 'keras-2.2' | 'tf.keras';

export interface KerasWeight {
  /** As in `weight_names`: 'block1_conv1/kernel:0'. */
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface KerasLayer {
  name: string;
  weights: KerasWeight[];
}

/** The i-th (0-based) unnamed layer of a Keras class (`conv2d`, `batch_normalization`) under each naming. */
function residualName(stem: string, index: number, naming: ResidualNaming): string {
  switch (naming) {
    case 'official':
      return `${stem}_${index + 1}`;
    case 'keras-2.2':
      // ModelHub's export: the session had built another model first, so numbering continued at 4.
      return `${stem}_${index + 4}`;
    case 'tf.keras':
      return index === 0 ? stem : `${stem}_${index}`;
  }
}

export interface KerasLayersOptions {
  naming?: ResidualNaming;
  /** Appended to the variable scope in weight names, as TF does when a name is taken ('_1': 'block1_conv1_1/kernel:0'). */
  variableSuffix?: string;
  /** Include the weightless layers (input, activations, pooling, adds), as Keras does. Default true. */
  weightless?: boolean;
}

/** The layers Keras would save for `arch` and `weights`, in the architecture's order. */
export function kerasLayers(arch: Architecture, weights: WeightMap, options: KerasLayersOptions = {}): KerasLayer[] {
  const { naming = 'official', variableSuffix = '', weightless = true } = options;
  const specs = weightSpecs(arch);
  const counters = { conv2d: 0, batch_normalization: 0 };
  const layers: KerasLayer[] = [];
  for (const layer of arch.layers) {
    let name = layer.name;
    if ((layer.kind === 'conv2d' || layer.kind === 'batchNorm') && layer.anonymous) {
      const stem = layer.kind === 'conv2d' ? 'conv2d' : 'batch_normalization';
      name = residualName(stem, counters[stem]++, naming);
    }
    const layerWeights = specs
      .filter((spec) => spec.layer === layer.name)
      .map((spec) => {
        const tensor = weights.get(layer.name)?.get(spec.role);
        if (!tensor) throw new Error(`no ${layer.name}/${spec.role} in the weights to write`);
        return { name: `${name}${variableSuffix}/${spec.role}:0`, shape: [...tensor.shape], data: tensor.data };
      });
    if (layerWeights.length > 0 || weightless) layers.push({ name, weights: layerWeights });
  }
  return layers;
}

export interface WriteKerasHdf5Options {
  /** 'weights-only' (model.save_weights, like Keras' official file) or 'full-model' (model.save). */
  layout?: 'weights-only' | 'full-model';
  /** Fixed-length byte strings (h5py's numpy 'S' arrays) or variable-length strings. */
  strings?: 'fixed' | 'variable';
}

type H5Group = import('h5wasm/node').Group;

function writeStrings(node: H5Group, name: string, values: string[], strings: 'fixed' | 'variable'): void {
  // Keras stores an empty list as np.asarray([]): an empty float64 array.
  if (values.length === 0) node.create_attribute(name, new Float64Array(0), [0], '<d');
  else if (strings === 'variable') node.create_attribute(name, values, [values.length]);
  else node.create_attribute(name, values, [values.length], `S${Math.max(...values.map((v) => Buffer.byteLength(v)))}`);
}

/** Writes `layers` to a new HDF5 file at `path` in Keras' layout. */
export async function writeKerasHdf5(
  path: string,
  layers: KerasLayer[],
  options: WriteKerasHdf5Options = {},
): Promise<void> {
  const { layout = 'weights-only', strings = 'fixed' } = options;
  const h5wasm = await import('h5wasm/node');
  await h5wasm.ready;
  const file = new h5wasm.File(path, 'w');
  try {
    let root: H5Group = file;
    if (layout === 'full-model') {
      file.create_attribute('keras_version', '2.2.4');
      file.create_attribute('backend', 'tensorflow');
      file.create_attribute('model_config', JSON.stringify({ class_name: 'Model', config: { name: 'xception' } }));
      root = file.create_group('model_weights');
    }
    writeStrings(
      root,
      'layer_names',
      layers.map((l) => l.name),
      strings,
    );
    root.create_attribute('backend', 'tensorflow');
    root.create_attribute('keras_version', '2.2.4');
    for (const layer of layers) {
      const group = root.create_group(layer.name);
      writeStrings(
        group,
        'weight_names',
        layer.weights.map((w) => w.name),
        strings,
      );
      for (const weight of layer.weights) {
        // 'block1_conv1/kernel:0' is a dataset inside a subgroup; h5wasm does not create intermediate groups.
        const parts = weight.name.split('/');
        let parent = group;
        for (const part of parts.slice(0, -1)) {
          parent = parent.keys().includes(part) ? (parent.get(part) as H5Group) : parent.create_group(part);
        }
        parent.create_dataset({ name: parts.at(-1)!, data: weight.data, shape: weight.shape, dtype: '<f' });
      }
    }
  } finally {
    file.close();
  }
}

/**
 * A tiny network with Xception's structure (block names, two unnamed residual conv/BN pairs of different widths,
 * a separable convolution, pooling, adds, a classifier), for tests that need real files but not 88 MB of them.
 */
export function tinyXception(classes = 5): Architecture {
  const b = new ArchitectureBuilder();
  const inputShape = [9, 9, 3] as const;
  let x = b.input('input_1', inputShape);
  x = b.conv(x, 'block1_conv1', 4, 3, 2, 'valid');
  x = b.bn(x, 'block1_conv1_bn');
  x = b.relu(x, 'block1_conv1_act');
  let residual = b.residual(x, 6);
  x = b.sepconv(x, 'block2_sepconv1', 6);
  x = b.bn(x, 'block2_sepconv1_bn');
  x = b.maxPool(x, 'block2_pool');
  x = b.add(x, residual, 'add_1');
  residual = b.residual(x, 8);
  x = b.relu(x, 'block3_sepconv1_act');
  x = b.sepconv(x, 'block3_sepconv1', 8);
  x = b.bn(x, 'block3_sepconv1_bn');
  x = b.maxPool(x, 'block3_pool');
  x = b.add(x, residual, 'add_2');
  x = b.globalAveragePool(x, 'avg_pool');
  b.dense(x, 'predictions', classes);
  return { name: 'xception', layers: b.layers, inputShape, classes };
}
