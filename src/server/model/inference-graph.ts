/**
 * The inference-time rewrite both engine compilers apply: a BatchNorm that is the only reader of a convolution's
 * output is folded into that convolution's kernel and bias; any other BatchNorm stays a per-channel affine map.
 * The per-channel factors are Float64, so folding adds no more rounding than the float32 kernel itself has.
 */
import type { Architecture, BatchNormLayer, Layer } from './architecture.js';
import type { WeightLookup } from './weights/weight-lookup.js';

export interface InferenceGraph {
  /** The single layer that reads `name`, when exactly one does. */
  soleReader(name: string): Layer | undefined;
  /** The BatchNorm folded into the convolution `conv`; the convolution then defines the BatchNorm's output. */
  foldedNorm(conv: string): BatchNormLayer | undefined;
  /** Whether the BatchNorm `norm` is folded into the convolution before it, so it compiles to nothing. */
  isFolded(norm: string): boolean;
}

export function inferenceGraph(arch: Architecture): InferenceGraph {
  const readers = new Map<string, Layer[]>();
  for (const layer of arch.layers) {
    for (const input of layer.inputs) {
      const list = readers.get(input) ?? [];
      list.push(layer);
      readers.set(input, list);
    }
  }
  const soleReader = (name: string): Layer | undefined => {
    const list = readers.get(name) ?? [];
    return list.length === 1 ? list[0] : undefined;
  };
  const folds = new Map<string, BatchNormLayer>();
  for (const layer of arch.layers) {
    const next = soleReader(layer.name);
    if ((layer.kind === 'conv2d' || layer.kind === 'separableConv2d') && next?.kind === 'batchNorm')
      folds.set(layer.name, next);
  }
  const folded = new Set([...folds.values()].map((norm) => norm.name));
  return { soleReader, foldedNorm: (conv) => folds.get(conv), isFolded: (norm) => folded.has(norm) };
}

/** BatchNorm of x + bias as x·scale + shift per channel: scale = γ/√(σ²+ε), shift = (bias − μ)·scale + β. */
export function batchNormAffine(
  norm: BatchNormLayer,
  weight: WeightLookup,
  bias?: Float32Array,
): { scale: Float64Array; shift: Float64Array } {
  const gamma = weight(norm.name, 'gamma').data;
  const beta = weight(norm.name, 'beta').data;
  const mean = weight(norm.name, 'moving_mean').data;
  const variance = weight(norm.name, 'moving_variance').data;
  const scale = new Float64Array(gamma.length);
  const shift = new Float64Array(gamma.length);
  for (let c = 0; c < gamma.length; c++) {
    scale[c] = gamma[c]! / Math.sqrt(variance[c]! + norm.epsilon);
    shift[c] = ((bias?.[c] ?? 0) - mean[c]!) * scale[c]! + beta[c]!;
  }
  return { scale, shift };
}

/**
 * BN(conv(x) + b) = conv(x)·scale + shift: scales the kernel's output channels (the innermost axis in Keras'
 * [kh, kw, in, out] layout) and derives the bias.
 */
export function foldBatchNorm(
  kernel: Float32Array,
  bias: Float32Array | undefined,
  norm: BatchNormLayer,
  weight: WeightLookup,
): { kernel: Float32Array; bias: Float32Array } {
  const { scale, shift } = batchNormAffine(norm, weight, bias);
  const channels = scale.length;
  if (kernel.length % channels !== 0) {
    throw new Error(`layer ${norm.name}: ${channels} channels do not divide the kernel (${kernel.length} values)`);
  }
  const scaled = new Float32Array(kernel.length);
  for (let i = 0; i < kernel.length; i++) scaled[i] = kernel[i]! * scale[i % channels]!;
  return { kernel: scaled, bias: Float32Array.from(shift) };
}
