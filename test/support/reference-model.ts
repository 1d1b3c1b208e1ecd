/**
 * A deliberately naive Float64 evaluator of an Architecture, written straight from TensorFlow's semantics (NHWC,
 * 'valid'/'same' padding with the smaller half before, −∞ max-pool padding, BatchNorm with ε, softmax). Engines are
 * checked against it on tiny networks. It shares no code with the engines on purpose; slow is fine.
 */
import { weightSpecs, type Architecture, type Layer, type Padding } from '../../src/server/model/architecture.js';
import type { Tensor, WeightMap } from '../../src/server/model/weights/weight-map.js';

/** An NHWC feature map of one image, or a flat vector (height = width = 1 and flat = true). */
interface Activation {
  readonly data: Float64Array;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly flat: boolean;
}

/** Runs `batch` NHWC images through the architecture; returns batch × classes probabilities, row-major. */
export function evaluateReference(
  arch: Architecture,
  weights: WeightMap,
  input: ArrayLike<number>,
  batch: number,
): Float64Array {
  const [height, width, channels] = arch.inputShape;
  const imageSize = height * width * channels;
  if (input.length !== batch * imageSize) throw new Error(`input length ${input.length} ≠ ${batch}×${imageSize}`);
  const out = new Float64Array(batch * arch.classes);
  for (let b = 0; b < batch; b++) {
    const image = Float64Array.from({ length: imageSize }, (_, i) => input[b * imageSize + i]!);
    const result = evaluateImage(arch, weights, { data: image, height, width, channels, flat: false });
    out.set(result.data, b * arch.classes);
  }
  return out;
}

function evaluateImage(arch: Architecture, weights: WeightMap, image: Activation): Activation {
  const values = new Map<string, Activation>();
  const w = (layer: string, role: string): Tensor => {
    const t = weights.get(layer)?.get(role);
    if (t === undefined) throw new Error(`reference: missing ${layer}/${role}`);
    return t;
  };
  let last: Activation = image;
  for (const layer of arch.layers) {
    const x = layer.inputs.length > 0 ? values.get(layer.inputs[0]!)! : image;
    last = evaluateLayer(layer, x, values, w);
    values.set(layer.name, last);
  }
  return last;
}

function evaluateLayer(
  layer: Layer,
  x: Activation,
  values: Map<string, Activation>,
  w: (layer: string, role: string) => Tensor,
): Activation {
  switch (layer.kind) {
    case 'input':
      return x;
    case 'conv2d': {
      const y = conv(x, w(layer.name, 'kernel').data, layer.kernelSize, layer.strides, layer.padding, layer.filters);
      return layer.useBias ? addBias(y, w(layer.name, 'bias').data) : y;
    }
    case 'separableConv2d': {
      const d = depthwise(x, w(layer.name, 'depthwise_kernel').data, layer.kernelSize, layer.padding);
      const y = conv(d, w(layer.name, 'pointwise_kernel').data, 1, 1, 'valid', layer.filters);
      return layer.useBias ? addBias(y, w(layer.name, 'bias').data) : y;
    }
    case 'batchNorm': {
      const gamma = w(layer.name, 'gamma').data;
      const beta = w(layer.name, 'beta').data;
      const mean = w(layer.name, 'moving_mean').data;
      const variance = w(layer.name, 'moving_variance').data;
      return map(x, (v, c) => ((v - mean[c]!) / Math.sqrt(variance[c]! + layer.epsilon)) * gamma[c]! + beta[c]!);
    }
    case 'relu':
      return map(x, (v) => Math.max(v, 0));
    case 'add': {
      const other = values.get(layer.inputs[1]!)!;
      return map(x, (v, _c, i) => v + other.data[i]!);
    }
    case 'maxPool':
      return maxPool(x, layer.poolSize, layer.strides, layer.padding);
    case 'globalAveragePool': {
      const data = new Float64Array(x.channels);
      const pixels = x.height * x.width;
      for (let p = 0; p < pixels; p++) {
        for (let c = 0; c < x.channels; c++) data[c] = data[c]! + x.data[p * x.channels + c]!;
      }
      for (let c = 0; c < x.channels; c++) data[c] = data[c]! / pixels;
      return { data, height: 1, width: 1, channels: x.channels, flat: true };
    }
    case 'dense': {
      const kernel = w(layer.name, 'kernel').data;
      const bias = w(layer.name, 'bias').data;
      const logits = new Float64Array(layer.units);
      for (let o = 0; o < layer.units; o++) {
        let sum = bias[o]!;
        for (let i = 0; i < x.channels; i++) sum += x.data[i]! * kernel[i * layer.units + o]!;
        logits[o] = sum;
      }
      const max = Math.max(...logits);
      const exps = logits.map((v) => Math.exp(v - max));
      const total = exps.reduce((a, b) => a + b, 0);
      return { data: exps.map((v) => v / total), height: 1, width: 1, channels: layer.units, flat: true };
    }
    default:
      throw new Error(`reference: unknown layer kind in ${(layer as Layer).name}`);
  }
}

/** Before-padding and output size along one axis, per TensorFlow. */
function axis(size: number, k: number, stride: number, padding: Padding): { before: number; out: number } {
  if (padding === 'valid') return { before: 0, out: Math.floor((size - k) / stride) + 1 };
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + k - size, 0);
  return { before: Math.floor(total / 2), out };
}

/** Keras kernel [k, k, in, out]; zero padding. */
function conv(
  x: Activation,
  kernel: Float32Array,
  k: number,
  stride: number,
  padding: Padding,
  filters: number,
): Activation {
  const rows = axis(x.height, k, stride, padding);
  const cols = axis(x.width, k, stride, padding);
  const data = new Float64Array(rows.out * cols.out * filters);
  for (let oy = 0; oy < rows.out; oy++) {
    for (let ox = 0; ox < cols.out; ox++) {
      for (let ky = 0; ky < k; ky++) {
        const iy = oy * stride + ky - rows.before;
        if (iy < 0 || iy >= x.height) continue;
        for (let kx = 0; kx < k; kx++) {
          const ix = ox * stride + kx - cols.before;
          if (ix < 0 || ix >= x.width) continue;
          for (let i = 0; i < x.channels; i++) {
            const v = x.data[(iy * x.width + ix) * x.channels + i]!;
            const kBase = ((ky * k + kx) * x.channels + i) * filters;
            const oBase = (oy * cols.out + ox) * filters;
            for (let o = 0; o < filters; o++) data[oBase + o] = data[oBase + o]! + v * kernel[kBase + o]!;
          }
        }
      }
    }
  }
  return { data, height: rows.out, width: cols.out, channels: filters, flat: false };
}

/** Keras depthwise kernel [k, k, channels, 1], stride 1; zero padding. */
function depthwise(x: Activation, kernel: Float32Array, k: number, padding: Padding): Activation {
  const rows = axis(x.height, k, 1, padding);
  const cols = axis(x.width, k, 1, padding);
  const C = x.channels;
  const data = new Float64Array(rows.out * cols.out * C);
  for (let oy = 0; oy < rows.out; oy++) {
    for (let ox = 0; ox < cols.out; ox++) {
      for (let ky = 0; ky < k; ky++) {
        const iy = oy + ky - rows.before;
        if (iy < 0 || iy >= x.height) continue;
        for (let kx = 0; kx < k; kx++) {
          const ix = ox + kx - cols.before;
          if (ix < 0 || ix >= x.width) continue;
          for (let c = 0; c < C; c++) {
            const o = (oy * cols.out + ox) * C + c;
            data[o] = data[o]! + x.data[(iy * x.width + ix) * C + c]! * kernel[(ky * k + kx) * C + c]!;
          }
        }
      }
    }
  }
  return { data, height: rows.out, width: cols.out, channels: C, flat: false };
}

/** Padded cells are −∞: they never win, so only real cells are compared. */
function maxPool(x: Activation, size: number, stride: number, padding: Padding): Activation {
  const rows = axis(x.height, size, stride, padding);
  const cols = axis(x.width, size, stride, padding);
  const C = x.channels;
  const data = new Float64Array(rows.out * cols.out * C).fill(-Infinity);
  for (let oy = 0; oy < rows.out; oy++) {
    for (let ox = 0; ox < cols.out; ox++) {
      for (let ky = 0; ky < size; ky++) {
        const iy = oy * stride + ky - rows.before;
        if (iy < 0 || iy >= x.height) continue;
        for (let kx = 0; kx < size; kx++) {
          const ix = ox * stride + kx - cols.before;
          if (ix < 0 || ix >= x.width) continue;
          for (let c = 0; c < C; c++) {
            const o = (oy * cols.out + ox) * C + c;
            data[o] = Math.max(data[o]!, x.data[(iy * x.width + ix) * C + c]!);
          }
        }
      }
    }
  }
  return { data, height: rows.out, width: cols.out, channels: C, flat: false };
}

function addBias(x: Activation, bias: Float32Array): Activation {
  return map(x, (v, c) => v + bias[c]!);
}

/** Applies f(value, channel, index) to every element (channels are innermost in NHWC). */
function map(x: Activation, f: (v: number, c: number, i: number) => number): Activation {
  const data = new Float64Array(x.data.length);
  for (let i = 0; i < data.length; i++) data[i] = f(x.data[i]!, i % x.channels, i);
  return { ...x, data };
}

/** mulberry32: a tiny deterministic PRNG, uniform in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `length` uniform values in [lo, hi). */
export function uniform(random: () => number, length: number, lo: number, hi: number): Float32Array {
  const data = new Float32Array(length);
  for (let i = 0; i < length; i++) data[i] = lo + (hi - lo) * random();
  return data;
}

/**
 * Deterministic random weights for tests: kernels variance-scaled by fan-in (so activations stay O(1) through
 * deep nets), BatchNorm statistics around identity with positive variance, small biases.
 */
export function randomWeights(arch: Architecture, seed: number): WeightMap {
  const random = prng(seed);
  const map = new Map<string, Map<string, Tensor>>();
  for (const spec of weightSpecs(arch)) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    switch (spec.role) {
      case 'kernel':
      case 'depthwise_kernel':
      case 'pointwise_kernel': {
        // Fan-in: all but the last dimension (for depthwise, the input channel is not summed over).
        const fanIn = spec.role === 'depthwise_kernel' ? size / spec.shape[2]! : size / spec.shape.at(-1)!;
        const limit = Math.sqrt(3 / fanIn);
        data = uniform(random, size, -limit, limit);
        break;
      }
      case 'gamma':
      case 'moving_variance':
        data = uniform(random, size, 0.5, 1.5);
        break;
      case 'beta':
      case 'moving_mean':
      case 'bias':
        data = uniform(random, size, -0.2, 0.2);
        break;
      default:
        throw new Error(`randomWeights: unknown role ${spec.role}`);
    }
    let layer = map.get(spec.layer);
    if (layer === undefined) map.set(spec.layer, (layer = new Map()));
    layer.set(spec.role, { shape: spec.shape, data });
  }
  return map;
}
