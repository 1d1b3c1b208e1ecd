/**
 * Pillow's LANCZOS resampling of 8-bit images (Resample.c), reproduced to the integer: the same filter support,
 * pixel-centre convention, 22-bit fixed-point weights and rounding. ModelHub resizes with it. libvips downscales
 * almost identically, but upscales with another interpolator and corner alignment (whole levels off at edges), so
 * the axes that grow go through this instead. Each pass is separable and works on interleaved pixels, any channels.
 */

import { resampleRows } from './pixel-kernels.js';

const PRECISION_BITS = 22;
const ROUNDING = 1 << (PRECISION_BITS - 1);
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
  /** Weights per output position (a row of `kernelSize`, unused tail zero). */
  readonly kernelSize: number;
  /** [first, count] per output position. */
  readonly bounds: Int32Array;
  readonly weights: Int32Array;
}

/**
 * The coefficients for one (inSize, outSize) pair, computed once: a server sees the same few sizes (camera frames,
 * the usual photo sizes) over and over. The cache is small and simply starts over when full.
 */
export function lanczosCoefficients(inSize: number, outSize: number): ResampleCoefficients {
  const key = inSize * 65_536 + outSize;
  let coefficients = coefficientCache.get(key);
  if (coefficients === undefined) {
    if (coefficientCache.size >= COEFFICIENT_CACHE_SIZE) coefficientCache.clear();
    coefficients = computeLanczosCoefficients(inSize, outSize);
    coefficientCache.set(key, coefficients);
  }
  return coefficients;
}

const COEFFICIENT_CACHE_SIZE = 64;
const coefficientCache = new Map<number, ResampleCoefficients>();

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
  return { outSize, kernelSize, bounds, weights };
}

function clip8(sum: number): number {
  if (sum >= 1 << (PRECISION_BITS + 8)) return 255;
  if (sum <= 0) return 0;
  return sum >> PRECISION_BITS;
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
  resampleLines(data, out, { lines: height, inSize: width, step: channels }, lanczosCoefficients(width, outWidth));
  return { data: out, width: outWidth, height, channels };
}

/** Resamples each column to `outHeight` rows, into `into` when given (at least width × outHeight × channels bytes). */
export function resampleVertical(image: Pixels, outHeight: number, into?: Uint8Array): Pixels {
  const { data, width, height, channels } = image;
  const stride = width * channels;
  const out = into?.subarray(0, outHeight * stride) ?? new Uint8Array(outHeight * stride);
  // Each output row is a weighted sum of whole input rows: 16 samples at a time in WebAssembly SIMD.
  resampleRows(data, stride, lanczosCoefficients(height, outHeight), out);
  return { data: out, width, height: outHeight, channels };
}

/** The image as `lines` lines of `inSize` positions, each position `step` interleaved samples. */
interface Lines {
  readonly lines: number;
  readonly inSize: number;
  readonly step: number;
}

/**
 * Every growing axis has exactly this many taps (support 3 at filter scale 1, ⌈3⌉·2+1), and growing axes are what the
 * serving path resamples here (libvips shrinks). The horizontal pass reads each output's taps `channels` bytes apart,
 * which does not suit 16-sample vectors as the vertical pass's whole rows do, so it stays here. sevenTaps spells them out: V8 keeps the weights in registers and the
 * sum needs no inner loop, 1.6–2.3× faster than anyTaps. Taps past the line's end have weight 0, so they read its last
 * position instead (any position gives the same sum), and the integer sum is Pillow's.
 */
const UPSCALE_TAPS = 7;

function resampleLines(data: Uint8Array, out: Uint8Array, lines: Lines, coefficients: ResampleCoefficients): void {
  if (coefficients.kernelSize === UPSCALE_TAPS) sevenTaps(data, out, lines, coefficients);
  else anyTaps(data, out, lines, coefficients);
}

// Int32 arithmetic, as Pillow's: |sum| < 2^31 for lanczos weights on 8-bit samples.

function anyTaps(
  data: Uint8Array,
  out: Uint8Array,
  { lines, inSize, step }: Lines,
  { outSize, kernelSize, bounds, weights }: ResampleCoefficients,
): void {
  let o = 0;
  for (let line = 0; line < lines; line++) {
    const start = line * inSize * step;
    for (let p = 0; p < outSize; p++) {
      const count = bounds[p * 2 + 1]!;
      const kOffset = p * kernelSize;
      const first = start + bounds[p * 2]! * step;
      // Sample by sample, taps innermost: the sum stays in a register and the few positions it reads stay in cache.
      for (let i = 0; i < step; i++) {
        let sum = ROUNDING;
        for (let k = 0, at = first + i; k < count; k++, at += step) {
          sum = (sum + Math.imul(data[at]!, weights[kOffset + k]!)) | 0;
        }
        out[o++] = clip8(sum);
      }
    }
  }
}

function sevenTaps(
  data: Uint8Array,
  out: Uint8Array,
  { lines, inSize, step }: Lines,
  { outSize, bounds, weights }: ResampleCoefficients,
): void {
  const last = (inSize - 1) * step;
  let o = 0;
  for (let line = 0; line < lines; line++) {
    const start = line * inSize * step;
    for (let p = 0; p < outSize; p++) {
      const k = p * UPSCALE_TAPS;
      const w0 = weights[k]!;
      const w1 = weights[k + 1]!;
      const w2 = weights[k + 2]!;
      const w3 = weights[k + 3]!;
      const w4 = weights[k + 4]!;
      const w5 = weights[k + 5]!;
      const w6 = weights[k + 6]!;
      const first = bounds[p * 2]! * step;
      const a0 = start + first;
      const a1 = start + Math.min(first + step, last);
      const a2 = start + Math.min(first + 2 * step, last);
      const a3 = start + Math.min(first + 3 * step, last);
      const a4 = start + Math.min(first + 4 * step, last);
      const a5 = start + Math.min(first + 5 * step, last);
      const a6 = start + Math.min(first + 6 * step, last);
      for (let i = 0; i < step; i++) {
        out[o++] = clip8(
          (ROUNDING +
            Math.imul(data[a0 + i]!, w0) +
            Math.imul(data[a1 + i]!, w1) +
            Math.imul(data[a2 + i]!, w2) +
            Math.imul(data[a3 + i]!, w3) +
            Math.imul(data[a4 + i]!, w4) +
            Math.imul(data[a5 + i]!, w5) +
            Math.imul(data[a6 + i]!, w6)) |
            0,
        );
      }
    }
  }
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
