/**
 * Maps the layers found in a weights file onto an architecture, whatever the file format: named layers by name, the
 * unnamed residual layers by the order Keras created them, every tensor checked against weightSpecs.
 */

import { weightSpecs, weightedLayers, type Architecture, type Layer, type WeightSpec } from '../architecture.js';
import { WeightsError, type Tensor, type WeightMap } from './weight-map.js';

/** One tensor as a file describes it; `read` is called only once the file is known to fit. */
export interface FileTensor {
  /** Keras weight role: the last part of the weight name, without ':0' (kernel, gamma, ...). */
  readonly role: string;
  readonly shape: readonly number[];
  readonly read: () => Float32Array;
}

/** A layer of the file that owns weights, under the name the file gives it. */
export interface FileLayer {
  readonly name: string;
  readonly tensors: readonly FileTensor[];
}

/** The role of a weight name like 'block1_conv1/kernel:0' or 'block1_conv1_1/kernel': its last part, no ':N'. */
export function roleOf(weightName: string): string {
  const last = weightName.slice(weightName.lastIndexOf('/') + 1);
  return last.replace(/:\d+$/, '');
}

/** 'Xception' for the architecture named 'xception': how messages name the model. */
function displayName(arch: Architecture): string {
  return arch.name.charAt(0).toUpperCase() + arch.name.slice(1);
}

function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

type AnonymousKind = 'conv2d' | 'batchNorm';

/** A file layer the architecture does not name is a convolution if it has a kernel, a BatchNorm if it has statistics. */
function anonymousKindOf(layer: FileLayer): AnonymousKind | undefined {
  const roles = new Set(layer.tensors.map((t) => t.role));
  if (roles.has('moving_mean') || roles.has('moving_variance') || roles.has('gamma')) return 'batchNorm';
  if (roles.has('kernel') && !roles.has('depthwise_kernel')) return 'conv2d';
  return undefined;
}

/**
 * Keras numbers unnamed layers per class in creation order: conv2d, conv2d_1, conv2d_2 (tf.keras) or conv2d_1..
 * (keras 2.x), continuing from earlier models in the same session (conv2d_4..). Sorting by that number recovers
 * the creation order even where the file lists layers alphabetically (TF.js manifests) or in any other order.
 * Names that do not share one stem with optional numbers keep the file's order.
 */
function inCreationOrder(layers: FileLayer[]): FileLayer[] {
  const parsed = layers.map((layer) => {
    const match = /^(.*?)(?:_(\d+))?$/.exec(layer.name)!;
    return { layer, stem: match[1]!, number: match[2] === undefined ? 0 : Number(match[2]) };
  });
  if (new Set(parsed.map((p) => p.stem)).size > 1) return layers;
  return parsed.sort((a, b) => a.number - b.number).map((p) => p.layer);
}

/** Reads one architecture layer's tensors from its file layer, checking roles and shapes. */
function takeTensors(
  archName: string,
  label: string,
  specs: readonly WeightSpec[],
  fileLayer: FileLayer,
  model: string,
): Map<string, Tensor> {
  const byRole = new Map<string, FileTensor>();
  for (const tensor of fileLayer.tensors) {
    if (byRole.has(tensor.role)) throw new WeightsError(`${label}: the file has two '${tensor.role}' tensors`);
    byRole.set(tensor.role, tensor);
  }
  const expected = new Set(specs.map((s) => s.role));
  for (const role of byRole.keys()) {
    if (!expected.has(role)) {
      throw new WeightsError(
        `${label}/${role}: the file has this tensor but ${model}'s ${archName} has no '${role}' ` +
          `(expects ${[...expected].join(', ')})`,
      );
    }
  }
  const tensors = new Map<string, Tensor>();
  for (const spec of specs) {
    const fileTensor = byRole.get(spec.role);
    if (!fileTensor) throw new WeightsError(`${label}/${spec.role}: missing from the weights file`);
    const sameShape =
      fileTensor.shape.length === spec.shape.length && fileTensor.shape.every((d, i) => d === spec.shape[i]);
    if (!sameShape) {
      throw new WeightsError(
        `${label}/${spec.role}: file has ${formatShape(fileTensor.shape)}, ${model} expects ${formatShape(spec.shape)}`,
      );
    }
    const data = fileTensor.read();
    const size = spec.shape.reduce((a, b) => a * b, 1);
    if (data.length !== size) {
      throw new WeightsError(
        `${label}/${spec.role}: file holds ${data.length} values for shape ${formatShape(spec.shape)}`,
      );
    }
    tensors.set(spec.role, { shape: [...spec.shape], data });
  }
  return tensors;
}

/**
 * Builds the WeightMap for `arch` from a file's weighted layers (in the file's order). Throws WeightsError naming
 * the layer when a layer or tensor is missing, a shape differs, or the file has weighted layers the model lacks.
 */
export function matchLayers(fileLayers: readonly FileLayer[], arch: Architecture): WeightMap {
  const model = displayName(arch);
  const specsByLayer = new Map<string, WeightSpec[]>();
  for (const spec of weightSpecs(arch)) {
    const list = specsByLayer.get(spec.layer);
    if (list) list.push(spec);
    else specsByLayer.set(spec.layer, [spec]);
  }

  const fileByName = new Map<string, FileLayer>();
  for (const layer of fileLayers) {
    if (layer.tensors.length === 0) continue;
    if (fileByName.has(layer.name)) throw new WeightsError(`${layer.name}: the weights file has this layer twice`);
    fileByName.set(layer.name, layer);
  }

  const weights = new Map<string, Map<string, Tensor>>();
  const anonymous: Record<AnonymousKind, Layer[]> = { conv2d: [], batchNorm: [] };
  for (const layer of weightedLayers(arch)) {
    if ((layer.kind === 'conv2d' || layer.kind === 'batchNorm') && layer.anonymous) {
      anonymous[layer.kind].push(layer);
      continue;
    }
    const fileLayer = fileByName.get(layer.name);
    if (!fileLayer) throw new WeightsError(`${layer.name}: layer missing from the weights file`);
    fileByName.delete(layer.name);
    weights.set(layer.name, takeTensors(layer.name, layer.name, specsByLayer.get(layer.name) ?? [], fileLayer, model));
  }

  // Whatever the names did not claim must be exactly the unnamed residual convolutions and BatchNorms.
  const leftovers: Record<AnonymousKind, FileLayer[]> = { conv2d: [], batchNorm: [] };
  for (const fileLayer of fileByName.values()) {
    const kind = anonymousKindOf(fileLayer);
    if (!kind) {
      const roles = fileLayer.tensors.map((t) => t.role).join(', ');
      throw new WeightsError(
        `${fileLayer.name}: the weights file has this layer (${roles}) but ${model} has none like it`,
      );
    }
    leftovers[kind].push(fileLayer);
  }
  const what: Record<AnonymousKind, string> = { conv2d: 'convolution', batchNorm: 'BatchNormalization' };
  for (const kind of ['conv2d', 'batchNorm'] as const) {
    const expected = anonymous[kind];
    const found = inCreationOrder(leftovers[kind]);
    if (found.length !== expected.length) {
      const names = found.length > 0 ? ` (${found.map((l) => l.name).join(', ')})` : '';
      throw new WeightsError(
        `the weights file has ${found.length} unnamed ${what[kind]} layers${names}, ${model} expects ` +
          `${expected.length} (${expected.map((l) => l.name).join(', ')}, matched by order)`,
      );
    }
    expected.forEach((layer, i) => {
      const fileLayer = found[i]!;
      const label = fileLayer.name === layer.name ? layer.name : `${fileLayer.name} (${model}'s ${layer.name})`;
      weights.set(layer.name, takeTensors(layer.name, label, specsByLayer.get(layer.name) ?? [], fileLayer, model));
    });
  }
  return weights;
}
