/**
 * Pillow's LANCZOS resampling of 8-bit images (Resample.c), reproduced to the integer: the same filter support,
 * pixel-centre convention, 22-bit fixed-point weights and rounding. ModelHub resizes with it. libvips downscales
 * almost identically, but upscales with another interpolator and corner alignment (whole levels off at edges), so
 * the axes that grow go through this instead. Each pass is separable and works on interleaved pixels, 1 to 4 channels.
 * The weights are computed here; the weighted sums run in WebAssembly SIMD (pixel-kernels.ts).
 */

import { resampleColumns, resampleRows } from './pixel-kernels.js';

/** Weights in fixed point with this many fraction bits; the kernels (pixel-kernels.wat) add one half and shift back. */
const PRECISION_BITS = 22;
const LANCZOS_SUPPORT = 3;

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

function lanczos(x: number): number {
  return x >= -LANCZOS_SUPPORT && x < LANCZOS_SUPPORT ? sinc(x) * sinc(x / LANCZOS_SUPPORT) : 0;
}

/** For each output position: the first input index, how many inputs it reads, and their fixed-point weights. */
export interface ResampleCoefficients {
  readonly outSize: number;
  /** Fraction bits of the fixed-point weights: Pillow's 22, libvips' 12. */
  readonly precisionBits: number;
  /** Weights per output position (a row of `kernelSize`, unused tail zero). */
  readonly kernelSize: number;
  /** [first, count] per output position. */
  readonly bounds: Int32Array;
  readonly weights: Int32Array;
}

/**
 * `compute` memoised per (inSize, outSize) pair: a server sees the same few sizes (camera frames, the usual photo
 * sizes) over and over. The cache is small and simply starts over when full.
 */
export function cachedPerSize(
  compute: (inSize: number, outSize: number) => ResampleCoefficients,
): (inSize: number, outSize: number) => ResampleCoefficients {
  const cache = new Map<number, ResampleCoefficients>();
  return (inSize, outSize) => {
    const key = inSize * 65_536 + outSize;
    let coefficients = cache.get(key);
    if (coefficients === undefined) {
      if (cache.size >= COEFFICIENT_CACHE_SIZE) cache.clear();
      coefficients = compute(inSize, outSize);
      cache.set(key, coefficients);
    }
    return coefficients;
  };
}

const COEFFICIENT_CACHE_SIZE = 64;

/** Pillow's coefficients for one (inSize, outSize) pair, computed once. */
export const lanczosCoefficients = cachedPerSize(computeLanczosCoefficients);

function computeLanczosCoefficients(inSize: number, outSize: number): ResampleCoefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = LANCZOS_SUPPORT * filterScale;
  const kernelSize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * kernelSize);
  const k = new Float64Array(kernelSize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // Math.trunc: C's (int) cast.
    const first = Math.max(0, Math.trunc(center - support + 0.5));
    const count = Math.min(inSize, Math.trunc(center + support + 0.5)) - first;
    let sum = 0;
    for (let x = 0; x < count; x++) {
      k[x] = lanczos((x + first - center + 0.5) / filterScale);
      sum += k[x]!;
    }
    for (let x = 0; x < count; x++) {
      const w = (sum !== 0 ? k[x]! / sum : k[x]!) * (1 << PRECISION_BITS);
      weights[xx * kernelSize + x] = Math.trunc(w < 0 ? w - 0.5 : w + 0.5);
    }
    bounds[xx * 2] = first;
    bounds[xx * 2 + 1] = count;
  }
  return { outSize, precisionBits: PRECISION_BITS, kernelSize, bounds, weights };
}

/** An interleaved 8-bit image. */
export interface Pixels {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: number;
}

/** Resamples each row to `outWidth` columns, into `into` when given (at least outWidth × height × channels bytes). */
export function resampleHorizontal(image: Pixels, outWidth: number, into?: Uint8Array): Pixels {
  const { data, width, height, channels } = image;
  const out = into?.subarray(0, outWidth * height * channels) ?? new Uint8Array(outWidth * height * channels);
  resampleColumns(data, image, lanczosCoefficients(width, outWidth), out);
  return { data: out, width: outWidth, height, channels };
}

/** Resamples each column to `outHeight` rows, into `into` when given (at least width × outHeight × channels bytes). */
export function resampleVertical(image: Pixels, outHeight: number, into?: Uint8Array): Pixels {
  const { data, width, height, channels } = image;
  const stride = width * channels;
  const out = into?.subarray(0, outHeight * stride) ?? new Uint8Array(outHeight * stride);
  resampleRows(data, stride, lanczosCoefficients(height, outHeight), out);
  return { data: out, width, height: outHeight, channels };
}

/** Pillow's RGBA → RGBa (alpha last), in place. */
export function premultiplyAlpha(image: Pixels): void {
  const { data, channels } = image;
  for (let i = 0; i < data.length; i += channels) {
    const alpha = data[i + channels - 1]!;
    for (let c = 0; c < channels - 1; c++) {
      const t = data[i + c]! * alpha + 128;
      data[i + c] = ((t >> 8) + t) >> 8;
    }
  }
}

/** Pillow's RGBa → RGBA, dropping the alpha channel on the way; into `into` when given. */
export function unpremultiplyAndDropAlpha(image: Pixels, into?: Uint8Array): Pixels {
  const { data, width, height, channels } = image;
  const colours = channels - 1;
  const out = into?.subarray(0, width * height * colours) ?? new Uint8Array(width * height * colours);
  for (let i = 0, o = 0; i < data.length; i += channels, o += colours) {
    const alpha = data[i + colours]!;
    for (let c = 0; c < colours; c++) {
      const v = data[i + c]!;
      out[o + c] = alpha === 255 || alpha === 0 ? v : Math.min(255, Math.floor((255 * v) / alpha));
    }
  }
  return { data: out, width, height, channels: colours };
}
