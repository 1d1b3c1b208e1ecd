/**
 * Pillow's LANCZOS resampling of 8-bit images (Resample.c), reproduced to the integer: the same filter support,
 * pixel-centre convention, 22-bit fixed-point weights and rounding. ModelHub resizes with it. libvips downscales
 * almost identically, but upscales with another interpolator and corner alignment (whole levels off at edges), so
 * the axes that grow go through this instead. Each pass is separable and works on interleaved pixels, any channels.
 */

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

/**
 * Every growing axis has exactly this many taps (support 3 at filter scale 1, ⌈3⌉·2+1), and growing axes are what the
 * serving path resamples here (libvips shrinks). The passes below spell those seven taps out: V8 keeps the weights
 * in registers and the sum needs no inner loop, ~2.3× faster than the general loop. Taps past the image's edge have
 * weight 0, so they read the edge sample instead (any sample gives the same sum), and the integer sum is Pillow's.
 */
const UPSCALE_TAPS = 7;

/** Resamples each row to `outWidth` columns, into `into` when given (at least outWidth × height × channels bytes). */
export function resampleHorizontal(image: Pixels, outWidth: number, into?: Uint8Array): Pixels {
  const { width, height, channels } = image;
  const coefficients = lanczosCoefficients(width, outWidth);
  const out = into?.subarray(0, outWidth * height * channels) ?? new Uint8Array(outWidth * height * channels);
  if (coefficients.kernelSize === UPSCALE_TAPS) horizontalSevenTaps(image, coefficients, out);
  else horizontalAnyTaps(image, coefficients, out);
  return { data: out, width: outWidth, height, channels };
}

/** Resamples each column to `outHeight` rows, into `into` when given (at least width × outHeight × channels bytes). */
export function resampleVertical(image: Pixels, outHeight: number, into?: Uint8Array): Pixels {
  const { width, channels } = image;
  const coefficients = lanczosCoefficients(image.height, outHeight);
  const stride = width * channels;
  const out = into?.subarray(0, outHeight * stride) ?? new Uint8Array(outHeight * stride);
  if (coefficients.kernelSize === UPSCALE_TAPS) verticalSevenTaps(image, coefficients, out);
  else verticalAnyTaps(image, coefficients, out);
  return { data: out, width, height: outHeight, channels };
}

// Int32 arithmetic, as Pillow's: |sum| < 2^31 for lanczos weights on 8-bit samples.

function horizontalAnyTaps(
  image: Pixels,
  { outSize, kernelSize, bounds, weights }: ResampleCoefficients,
  out: Uint8Array,
) {
  const { data, width, height, channels } = image;
  for (let y = 0; y < height; y++) {
    const row = y * width * channels;
    let o = y * outSize * channels;
    for (let xx = 0; xx < outSize; xx++) {
      const count = bounds[xx * 2 + 1]!;
      const kOffset = xx * kernelSize;
      const first = row + bounds[xx * 2]! * channels;
      for (let c = 0; c < channels; c++) {
        let sum = ROUNDING;
        for (let x = 0, at = first + c; x < count; x++, at += channels) {
          sum = (sum + Math.imul(data[at]!, weights[kOffset + x]!)) | 0;
        }
        out[o++] = clip8(sum);
      }
    }
  }
}

function horizontalSevenTaps(image: Pixels, { outSize, bounds, weights }: ResampleCoefficients, out: Uint8Array) {
  const { data, width, height, channels } = image;
  const edge = (width - 1) * channels;
  let o = 0;
  for (let y = 0; y < height; y++) {
    const row = y * width * channels;
    for (let xx = 0; xx < outSize; xx++) {
      const k = xx * UPSCALE_TAPS;
      const w0 = weights[k]!;
      const w1 = weights[k + 1]!;
      const w2 = weights[k + 2]!;
      const w3 = weights[k + 3]!;
      const w4 = weights[k + 4]!;
      const w5 = weights[k + 5]!;
      const w6 = weights[k + 6]!;
      const first = bounds[xx * 2]! * channels;
      const a0 = row + first;
      const a1 = row + Math.min(first + channels, edge);
      const a2 = row + Math.min(first + 2 * channels, edge);
      const a3 = row + Math.min(first + 3 * channels, edge);
      const a4 = row + Math.min(first + 4 * channels, edge);
      const a5 = row + Math.min(first + 5 * channels, edge);
      const a6 = row + Math.min(first + 6 * channels, edge);
      for (let c = 0; c < channels; c++) {
        out[o++] = clip8(
          (ROUNDING +
            Math.imul(data[a0 + c]!, w0) +
            Math.imul(data[a1 + c]!, w1) +
            Math.imul(data[a2 + c]!, w2) +
            Math.imul(data[a3 + c]!, w3) +
            Math.imul(data[a4 + c]!, w4) +
            Math.imul(data[a5 + c]!, w5) +
            Math.imul(data[a6 + c]!, w6)) |
            0,
        );
      }
    }
  }
}

function verticalAnyTaps(
  image: Pixels,
  { outSize, kernelSize, bounds, weights }: ResampleCoefficients,
  out: Uint8Array,
) {
  const { data, width, channels } = image;
  const stride = width * channels;
  for (let yy = 0; yy < outSize; yy++) {
    const count = bounds[yy * 2 + 1]!;
    const kOffset = yy * kernelSize;
    const first = bounds[yy * 2]! * stride;
    const outRow = yy * stride;
    // Sample by sample, taps innermost: the sum stays in a register and the few rows it reads stay in cache.
    for (let i = 0; i < stride; i++) {
      let sum = ROUNDING;
      for (let y = 0, at = first + i; y < count; y++, at += stride) {
        sum = (sum + Math.imul(data[at]!, weights[kOffset + y]!)) | 0;
      }
      out[outRow + i] = clip8(sum);
    }
  }
}

function verticalSevenTaps(image: Pixels, { outSize, bounds, weights }: ResampleCoefficients, out: Uint8Array) {
  const { data, width, height, channels } = image;
  const stride = width * channels;
  const edge = (height - 1) * stride;
  let o = 0;
  for (let yy = 0; yy < outSize; yy++) {
    const k = yy * UPSCALE_TAPS;
    const w0 = weights[k]!;
    const w1 = weights[k + 1]!;
    const w2 = weights[k + 2]!;
    const w3 = weights[k + 3]!;
    const w4 = weights[k + 4]!;
    const w5 = weights[k + 5]!;
    const w6 = weights[k + 6]!;
    const first = bounds[yy * 2]! * stride;
    const r0 = first;
    const r1 = Math.min(first + stride, edge);
    const r2 = Math.min(first + 2 * stride, edge);
    const r3 = Math.min(first + 3 * stride, edge);
    const r4 = Math.min(first + 4 * stride, edge);
    const r5 = Math.min(first + 5 * stride, edge);
    const r6 = Math.min(first + 6 * stride, edge);
    for (let i = 0; i < stride; i++) {
      out[o++] = clip8(
        (ROUNDING +
          Math.imul(data[r0 + i]!, w0) +
          Math.imul(data[r1 + i]!, w1) +
          Math.imul(data[r2 + i]!, w2) +
          Math.imul(data[r3 + i]!, w3) +
          Math.imul(data[r4 + i]!, w4) +
          Math.imul(data[r5 + i]!, w5) +
          Math.imul(data[r6 + i]!, w6)) |
          0,
      );
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
