/**
 * libvips' lanczos3 shrink (reducev, then reduceh) as sharp 0.35 / libvips 8.18 runs it for `resize(w, h, { fit:
 * 'fill', kernel: 'lanczos3', fastShrinkOnLoad: false })` by a factor of at most 2 on each axis, reproduced to the
 * byte, so that a small JPEG decoded here (jpeg-turbo.ts) can be shrunk without sharp's trip through libuv's pool and
 * libvips' threads (1.2–1.5 ms on these VMs; this shrinks a 320×213 photo's width in 0.25 ms, a 598×598 one in 1.6
 * ms). Tested byte for byte against sharp on many sizes; any other factor still goes through sharp.
 *
 * libvips' arithmetic: 2·rint(3·shrink)+1 taps centred on (x + 0.5)·shrink − 0.5, edge pixels repeated; the masks are
 * computed at the nearest 1/64 of a pixel (VIPS_TRANSFORM_SCALE), normalised, truncated to 12-bit fixed point
 * (VIPS_INTERPOLATE_SCALE), and each sum is rounded by one half, shifted and clipped — the kernels' arithmetic with
 * 12 fraction bits instead of Pillow's 22.
 */

import { cachedPerSize, type Pixels, type ResampleCoefficients } from './pil-resample.js';
import { resampleColumns, resampleRows } from './pixel-kernels.js';

/** Larger factors take libvips' other paths (an integer box shrink first, at ≥ 4): not reproduced here. */
export const MAX_SHRINK = 2;

const SUBPIXELS = 64;
const PRECISION_BITS = 12;
const LOBES = 3;

/** Whether libvips' shrink of `size` positions to `target` is reproduced here. */
export function shrinksHere(size: number, target: number): boolean {
  return size <= target * MAX_SHRINK;
}

/**
 * The image shrunk to at most [height, width] on each axis as sharp would (axes already within it are left alone),
 * into the buffers `scratch` hands out (slot 0 for the vertical pass, 1 for the horizontal); the input is not
 * modified.
 */
export function shrinkLikeLibvips(
  image: Pixels,
  [height, width]: readonly [number, number],
  scratch: (slot: number, bytes: number) => Uint8Array,
): Pixels {
  let out = image;
  // libvips reduces vertically first, then horizontally (the order changes the rounding, so it matters).
  if (out.height > height) {
    const data = scratch(0, out.width * height * out.channels);
    resampleRows(out.data, out.width * out.channels, reduceCoefficients(out.height, height), data);
    out = { ...out, data, height };
  }
  if (out.width > width) {
    const data = scratch(1, width * out.height * out.channels);
    resampleColumns(out.data, out, reduceCoefficients(out.width, width), data);
    out = { ...out, data, width };
  }
  return out;
}

/**
 * The function pil-resample's sinc(x)·sinc(x/3) is, written as libvips writes it: the masks are truncated to 12 bits,
 * where the last bit of a float could decide a weight (on every size tested, both give the same bytes).
 */
function lanczos3(x: number): number {
  if (x === 0) return 1;
  if (x < -LOBES || x > LOBES) return 0;
  return (LOBES * Math.sin(Math.PI * x) * Math.sin((Math.PI * x) / LOBES)) / (Math.PI * Math.PI * x * x);
}

/** C's rint() under the default rounding mode: halves go to the even neighbour. */
function rint(x: number): number {
  const rounded = Math.round(x);
  return rounded - x === 0.5 && rounded % 2 !== 0 ? rounded - 1 : rounded;
}

/** libvips' coefficients for one (inSize, outSize) pair, computed once. */
const reduceCoefficients = cachedPerSize(computeReduceCoefficients);

function computeReduceCoefficients(inSize: number, outSize: number): ResampleCoefficients {
  const shrink = inSize / outSize;
  const taps = 2 * rint(LOBES * shrink) + 1;
  // One mask per 1/64 pixel (and one for a whole pixel, which the rounding can reach), as libvips builds them.
  const masks: Int32Array[] = [];
  for (let step = 0; step <= SUBPIXELS; step++) {
    const half = step / SUBPIXELS + taps / 2 - 1;
    const mask = Array.from({ length: taps }, (_, i) => lanczos3((i - half) / shrink));
    const sum = mask.reduce((a, b) => a + b, 0);
    masks.push(Int32Array.from(mask, (m) => Math.trunc((m / sum) * (1 << PRECISION_BITS))));
  }
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * taps);
  // No pixels are invented or dropped at these sizes beyond rounding: libvips' offset is (1 + extra) / 2 − 1.
  const extra = Math.round(inSize / shrink) * shrink - inSize;
  let position = 0.5 * shrink - 0.5 - ((1 + extra) / 2 - 1);
  for (let x = 0; x < outSize; x++, position += shrink) {
    const whole = Math.trunc(position);
    // The fraction of the position rounded to the nearest 1/64, by libvips' integer steps.
    const subpixel = ((Math.trunc(position * SUBPIXELS * 2) & (SUBPIXELS * 2 - 1)) + 1) >> 1;
    const mask = masks[subpixel]!;
    // Taps past an edge read the edge pixel (libvips embeds the image with its edges repeated): their weights go to
    // it, which leaves the integer sum unchanged.
    const first = whole - (taps >> 1);
    const from = Math.max(0, first);
    const to = Math.min(inSize - 1, first + taps - 1);
    for (let i = 0; i < taps; i++) {
      const at = Math.min(to, Math.max(from, first + i));
      weights[x * taps + (at - from)] += mask[i]!;
    }
    bounds[x * 2] = from;
    bounds[x * 2 + 1] = to - from + 1;
  }
  return { outSize, precisionBits: PRECISION_BITS, kernelSize: taps, bounds, weights };
}
