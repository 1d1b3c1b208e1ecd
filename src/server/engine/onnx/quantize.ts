/**
 * The arithmetic of static int8 quantisation, as ONNX's QuantizeLinear/DequantizeLinear define it
 * (q = saturate(round(x / scale) + zero_point), x ≈ (q − zero_point) · scale):
 *
 * - activations: uint8, asymmetric, one scale and zero point per tensor, from a calibrated range;
 * - weights: int8, symmetric (zero point 0, values in [−127, 127]), one scale per output channel;
 * - biases: int32 with scale = input scale × weight scale of the channel, which is what QLinearConv assumes.
 *
 * u8 activations × s8 weights is the pairing ONNX Runtime's x86 kernels (VNNI's vpdpbusd) are built for.
 */

/** The real values an activation tensor is expected to take (after clipping outliers). */
export interface ActivationRange {
  readonly min: number;
  readonly max: number;
}

/** Activation ranges by tensor name, as the graph compiler names tensors. */
export type ActivationRanges = ReadonlyMap<string, ActivationRange>;

/** uint8 quantisation of one tensor. */
export interface QuantParams {
  /** A float32 value. */
  readonly scale: number;
  /** An integer in [0, 255]. */
  readonly zeroPoint: number;
}

const UINT8_LEVELS = 255;
const INT8_MAX = 127;

/**
 * uint8 parameters covering `range`. The range is widened to include 0 so that 0 (padding, ReLU's floor) is exact;
 * a range starting at 0 gets zero point 0, so a uint8 QuantizeLinear clamps negatives exactly as a ReLU would.
 */
export function uint8Params(range: ActivationRange): QuantParams {
  if (!Number.isFinite(range.min) || !Number.isFinite(range.max) || range.min > range.max) {
    throw new Error(`activation range [${range.min}, ${range.max}] is not a finite interval`);
  }
  const min = Math.min(range.min, 0);
  const max = Math.max(range.max, 0);
  if (max - min === 0) return { scale: 1, zeroPoint: 0 };
  const scale = Math.fround((max - min) / UINT8_LEVELS);
  const zeroPoint = Math.min(UINT8_LEVELS, Math.max(0, Math.round(-min / scale)));
  return { scale, zeroPoint };
}

/** x → its uint8 code under `params` (ONNX QuantizeLinear: round half to even, saturate). */
export function quantizeUint8(x: number, { scale, zeroPoint }: QuantParams): number {
  return Math.min(UINT8_LEVELS, Math.max(0, roundHalfEven(x / scale) + zeroPoint));
}

/**
 * Symmetric per-output-channel int8 quantisation of a kernel in ONNX layout ([out, ...], each channel's values
 * contiguous). An all-zero channel gets scale 1 (any scale represents it exactly).
 */
export function quantizeKernelPerChannel(
  kernel: Float32Array,
  outChannels: number,
): { data: Int8Array; scales: Float32Array } {
  if (kernel.length % outChannels !== 0) {
    throw new Error(`${outChannels} output channels do not divide the kernel (${kernel.length} values)`);
  }
  const perChannel = kernel.length / outChannels;
  const data = new Int8Array(kernel.length);
  const scales = new Float32Array(outChannels);
  for (let c = 0; c < outChannels; c++) {
    const start = c * perChannel;
    let maxAbs = 0;
    for (let i = start; i < start + perChannel; i++) maxAbs = Math.max(maxAbs, Math.abs(kernel[i]!));
    const scale = maxAbs === 0 ? 1 : Math.fround(maxAbs / INT8_MAX);
    scales[c] = scale;
    for (let i = start; i < start + perChannel; i++) {
      data[i] = Math.min(INT8_MAX, Math.max(-INT8_MAX, roundHalfEven(kernel[i]! / scale)));
    }
  }
  return { data, scales };
}

/** The scales of a convolution's int32 bias: input scale × each channel's weight scale, as float32. */
export function biasScales(inputScale: number, weightScales: Float32Array): Float32Array {
  return weightScales.map((w) => Math.fround(inputScale * w));
}

/** A bias as int32 codes at `scales`; fails rather than wrap when a value does not fit. */
export function quantizeBias(bias: Float32Array, scales: Float32Array): Int32Array {
  const data = new Int32Array(bias.length);
  for (let c = 0; c < bias.length; c++) {
    const q = roundHalfEven(bias[c]! / scales[c]!);
    if (!Number.isFinite(q) || q > 0x7fffffff || q < -0x80000000) {
      throw new Error(`bias ${bias[c]} of channel ${c} does not fit int32 at scale ${scales[c]}`);
    }
    data[c] = q;
  }
  return data;
}

/** Round half to even, as ONNX QuantizeLinear (and numpy) round. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}
