/**
 * Keras Xception V1 (Chollet 2016), described once as data, block by block as Keras' `applications/xception.py`
 * builds it, with Keras' layer names. Both engines compile this description; neither restates the network.
 *
 * Tensors are NHWC (Keras' channels_last). Padding follows TensorFlow: 'valid' pads nothing; 'same' pads
 * total = max((ceil(in/stride) - 1) * stride + kernel - in, 0), the smaller half before, the larger after.
 */

export type Padding = 'valid' | 'same';

interface LayerBase {
  /** Keras layer name; the weights file uses it as the group name. */
  readonly name: string;
  /** Names of the layers whose outputs feed this one ('input' is the image). */
  readonly inputs: readonly string[];
}

export interface InputLayer extends LayerBase {
  readonly kind: 'input';
  /** [height, width, channels]. */
  readonly shape: readonly [number, number, number];
}

export interface Conv2DLayer extends LayerBase {
  readonly kind: 'conv2d';
  readonly filters: number;
  readonly kernelSize: number;
  readonly strides: number;
  readonly padding: Padding;
  readonly useBias: boolean;
  /**
   * Keras gives the residual 1×1 convolutions (and their BatchNorms) no name, so every Keras version numbers them
   * differently (conv2d_1.., conv2d_4.., conv2d..). Loaders match these by order of appearance, not by name.
   */
  readonly anonymous?: boolean;
}

/** Depthwise kernelSize×kernelSize convolution (depth multiplier 1) followed by a pointwise 1×1 convolution. */
export interface SeparableConv2DLayer extends LayerBase {
  readonly kind: 'separableConv2d';
  readonly filters: number;
  readonly kernelSize: number;
  readonly padding: Padding;
  readonly useBias: boolean;
}

export interface BatchNormLayer extends LayerBase {
  readonly kind: 'batchNorm';
  readonly epsilon: number;
  readonly anonymous?: boolean;
}

export interface ReluLayer extends LayerBase {
  readonly kind: 'relu';
}

/** Max pooling; TensorFlow's 'same' pads with −∞, so padded cells never win. */
export interface MaxPoolLayer extends LayerBase {
  readonly kind: 'maxPool';
  readonly poolSize: number;
  readonly strides: number;
  readonly padding: Padding;
}

export interface AddLayer extends LayerBase {
  readonly kind: 'add';
}

export interface GlobalAveragePoolLayer extends LayerBase {
  readonly kind: 'globalAveragePool';
}

export interface DenseLayer extends LayerBase {
  readonly kind: 'dense';
  readonly units: number;
  readonly activation: 'softmax';
}

export type Layer =
  | InputLayer
  | Conv2DLayer
  | SeparableConv2DLayer
  | BatchNormLayer
  | ReluLayer
  | MaxPoolLayer
  | AddLayer
  | GlobalAveragePoolLayer
  | DenseLayer;

export interface Architecture {
  readonly name: string;
  /** Layers in topological order; the first is the input, the last the output. */
  readonly layers: readonly Layer[];
  readonly inputShape: readonly [number, number, number];
  readonly classes: number;
}

/** Floats in one input image (height × width × channels). */
export function imageSize(arch: Architecture): number {
  const [height, width, channels] = arch.inputShape;
  return height * width * channels;
}

/** Keras' BatchNormalization default epsilon in applications/xception.py. */
const BN_EPSILON = 1e-3;

/**
 * Records layers in order while tracking the current tensor, so the blocks below read like Keras' functional code:
 * `x = sepconv(...)`, `residual = conv(...)`.
 */
export class ArchitectureBuilder {
  readonly layers: Layer[] = [];
  private anonymousConvs = 0;
  private anonymousNorms = 0;

  input(name: string, shape: readonly [number, number, number]): string {
    this.layers.push({ kind: 'input', name, inputs: [], shape });
    return name;
  }

  conv(x: string, name: string, filters: number, kernelSize: number, strides: number, padding: Padding): string {
    this.layers.push({ kind: 'conv2d', name, inputs: [x], filters, kernelSize, strides, padding, useBias: false });
    return name;
  }

  /** A residual 1×1 stride-2 convolution with its BatchNorm, both unnamed in Keras. */
  residual(x: string, filters: number): string {
    const conv = `conv2d_${++this.anonymousConvs}`;
    this.layers.push({
      kind: 'conv2d',
      name: conv,
      inputs: [x],
      filters,
      kernelSize: 1,
      strides: 2,
      padding: 'same',
      useBias: false,
      anonymous: true,
    });
    const norm = `batch_normalization_${++this.anonymousNorms}`;
    this.layers.push({ kind: 'batchNorm', name: norm, inputs: [conv], epsilon: BN_EPSILON, anonymous: true });
    return norm;
  }

  sepconv(x: string, name: string, filters: number): string {
    this.layers.push({
      kind: 'separableConv2d',
      name,
      inputs: [x],
      filters,
      kernelSize: 3,
      padding: 'same',
      useBias: false,
    });
    return name;
  }

  bn(x: string, name: string): string {
    this.layers.push({ kind: 'batchNorm', name, inputs: [x], epsilon: BN_EPSILON });
    return name;
  }

  relu(x: string, name: string): string {
    this.layers.push({ kind: 'relu', name, inputs: [x] });
    return name;
  }

  maxPool(x: string, name: string): string {
    this.layers.push({ kind: 'maxPool', name, inputs: [x], poolSize: 3, strides: 2, padding: 'same' });
    return name;
  }

  add(a: string, b: string, name: string): string {
    this.layers.push({ kind: 'add', name, inputs: [a, b] });
    return name;
  }

  globalAveragePool(x: string, name: string): string {
    this.layers.push({ kind: 'globalAveragePool', name, inputs: [x] });
    return name;
  }

  dense(x: string, name: string, units: number): string {
    this.layers.push({ kind: 'dense', name, inputs: [x], units, activation: 'softmax' });
    return name;
  }
}

/** Xception's input image, [height, width, channels]. */
export const XCEPTION_INPUT_SHAPE = [299, 299, 3] as const;

/** Xception V1 for 299×299×3 images and 1000 ImageNet classes, exactly as Keras builds it. */
export function xception(classes = 1000): Architecture {
  const b = new ArchitectureBuilder();
  const inputShape = XCEPTION_INPUT_SHAPE;
  let x = b.input('input_1', inputShape);

  // Entry flow, block 1: two plain convolutions, no padding.
  x = b.conv(x, 'block1_conv1', 32, 3, 2, 'valid');
  x = b.bn(x, 'block1_conv1_bn');
  x = b.relu(x, 'block1_conv1_act');
  x = b.conv(x, 'block1_conv2', 64, 3, 1, 'valid');
  x = b.bn(x, 'block1_conv2_bn');
  x = b.relu(x, 'block1_conv2_act');

  // Block 2: no ReLU before the first separable convolution (block 1 ended with one).
  let residual = b.residual(x, 128);
  x = b.sepconv(x, 'block2_sepconv1', 128);
  x = b.bn(x, 'block2_sepconv1_bn');
  x = b.relu(x, 'block2_sepconv2_act');
  x = b.sepconv(x, 'block2_sepconv2', 128);
  x = b.bn(x, 'block2_sepconv2_bn');
  x = b.maxPool(x, 'block2_pool');
  x = b.add(x, residual, 'add_1');

  // Blocks 3 and 4: ReLU, separable conv, BN, twice; pool; add the strided residual.
  for (const [block, filters] of [
    [3, 256],
    [4, 728],
  ] as const) {
    residual = b.residual(x, filters);
    x = b.relu(x, `block${block}_sepconv1_act`);
    x = b.sepconv(x, `block${block}_sepconv1`, filters);
    x = b.bn(x, `block${block}_sepconv1_bn`);
    x = b.relu(x, `block${block}_sepconv2_act`);
    x = b.sepconv(x, `block${block}_sepconv2`, filters);
    x = b.bn(x, `block${block}_sepconv2_bn`);
    x = b.maxPool(x, `block${block}_pool`);
    x = b.add(x, residual, `add_${block - 1}`);
  }

  // Middle flow, blocks 5–12: three ReLU/sepconv/BN units with an identity shortcut.
  for (let block = 5; block <= 12; block++) {
    residual = x;
    const prefix = `block${block}`;
    for (const unit of [1, 2, 3]) {
      x = b.relu(x, `${prefix}_sepconv${unit}_act`);
      x = b.sepconv(x, `${prefix}_sepconv${unit}`, 728);
      x = b.bn(x, `${prefix}_sepconv${unit}_bn`);
    }
    x = b.add(x, residual, `add_${block - 1}`);
  }

  // Exit flow, block 13.
  residual = b.residual(x, 1024);
  x = b.relu(x, 'block13_sepconv1_act');
  x = b.sepconv(x, 'block13_sepconv1', 728);
  x = b.bn(x, 'block13_sepconv1_bn');
  x = b.relu(x, 'block13_sepconv2_act');
  x = b.sepconv(x, 'block13_sepconv2', 1024);
  x = b.bn(x, 'block13_sepconv2_bn');
  x = b.maxPool(x, 'block13_pool');
  x = b.add(x, residual, 'add_12');

  // Block 14: separable conv, BN, ReLU (ReLU after, unlike the blocks above), twice.
  x = b.sepconv(x, 'block14_sepconv1', 1536);
  x = b.bn(x, 'block14_sepconv1_bn');
  x = b.relu(x, 'block14_sepconv1_act');
  x = b.sepconv(x, 'block14_sepconv2', 2048);
  x = b.bn(x, 'block14_sepconv2_bn');
  x = b.relu(x, 'block14_sepconv2_act');

  // Classifier.
  x = b.globalAveragePool(x, 'avg_pool');
  b.dense(x, 'predictions', classes);

  return { name: 'xception', layers: b.layers, inputShape, classes };
}

/** One weight tensor a layer owns, in Keras' layout and order. */
export interface WeightSpec {
  readonly layer: string;
  /** Keras' weight name within the layer: kernel, depthwise_kernel, gamma, moving_mean, ... */
  readonly role: string;
  readonly shape: readonly number[];
}

/**
 * The weight tensors of every layer, in Keras' order (the order of a layer's `weight_names` in HDF5), with Keras'
 * shapes: conv kernels [kh, kw, in, out], depthwise [kh, kw, in, 1], dense [in, out].
 */
export function weightSpecs(arch: Architecture): WeightSpec[] {
  const channels = outputChannels(arch);
  const specs: WeightSpec[] = [];
  for (const layer of arch.layers) {
    const inChannels = layer.inputs.length > 0 ? channels.get(layer.inputs[0]!)! : 0;
    switch (layer.kind) {
      case 'conv2d':
        specs.push({
          layer: layer.name,
          role: 'kernel',
          shape: [layer.kernelSize, layer.kernelSize, inChannels, layer.filters],
        });
        if (layer.useBias) specs.push({ layer: layer.name, role: 'bias', shape: [layer.filters] });
        break;
      case 'separableConv2d':
        specs.push({
          layer: layer.name,
          role: 'depthwise_kernel',
          shape: [layer.kernelSize, layer.kernelSize, inChannels, 1],
        });
        specs.push({ layer: layer.name, role: 'pointwise_kernel', shape: [1, 1, inChannels, layer.filters] });
        if (layer.useBias) specs.push({ layer: layer.name, role: 'bias', shape: [layer.filters] });
        break;
      case 'batchNorm':
        for (const role of ['gamma', 'beta', 'moving_mean', 'moving_variance']) {
          specs.push({ layer: layer.name, role, shape: [inChannels] });
        }
        break;
      case 'dense':
        specs.push({ layer: layer.name, role: 'kernel', shape: [inChannels, layer.units] });
        specs.push({ layer: layer.name, role: 'bias', shape: [layer.units] });
        break;
      default:
        break;
    }
  }
  return specs;
}

/** Output channel count of every layer, by name. */
export function outputChannels(arch: Architecture): Map<string, number> {
  const channels = new Map<string, number>();
  for (const layer of arch.layers) {
    const inChannels = layer.inputs.length > 0 ? channels.get(layer.inputs[0]!)! : 0;
    switch (layer.kind) {
      case 'input':
        channels.set(layer.name, layer.shape[2]);
        break;
      case 'conv2d':
      case 'separableConv2d':
        channels.set(layer.name, layer.filters);
        break;
      case 'dense':
        channels.set(layer.name, layer.units);
        break;
      default:
        channels.set(layer.name, inChannels);
    }
  }
  return channels;
}

/** Layers that own weights, in order: what a weights file must provide. */
export function weightedLayers(arch: Architecture): Layer[] {
  return arch.layers.filter(
    (l) => l.kind === 'conv2d' || l.kind === 'separableConv2d' || l.kind === 'batchNorm' || l.kind === 'dense',
  );
}
