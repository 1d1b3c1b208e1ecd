/**
 * The shared tail of both input paths: one sharp pipeline from whatever was opened to targetSize RGB uint8 (plus
 * Pillow's filter on axes that grow), then ModelHub's scaling to float. ModelHub (processing.py) resizes with PIL's
 * LANCZOS, aspect ratio not kept, keeps the first three channels or stacks grey three times, and scales
 * x/255 − 0.5, ×2 in float32.
 */

import type { Sharp } from 'sharp';
import { invalidArgument } from '../errors.js';
import {
  premultiplyAlpha,
  resampleHorizontal,
  resampleVertical,
  unpremultiplyAndDropAlpha,
  type Pixels,
} from './pil-resample.js';
import { shrinkLikeLibvips } from './libvips-shrink.js';
import { scaleToFloats } from './pixel-kernels.js';

/**
 * Resizes to [height, width] with lanczos (fit 'fill': aspect ratio not kept), drops alpha after the resize
 * (resampling RGBA premultiplied, as PIL does), turns grey into three equal channels, and writes the scaled floats
 * into `tensor` (height × width × 3, RGB; swapped from BGR when `order` says so). `source` is the size sharp will
 * read (the header's, no EXIF rotation).
 *
 * Axes that shrink are resized by libvips (lanczos3, within a few levels of PIL); axes that grow are resized by
 * Pillow's own filter (pil-resample.ts), where libvips would differ by whole tens of levels. This thread's work is
 * bounded: a growing axis is under targetSize long and the other one is already at most targetSize.
 */
export async function resizeInto(
  image: Sharp,
  source: { readonly width: number; readonly height: number },
  targetSize: readonly [number, number],
  tensor: Float32Array,
  order: ChannelOrder = 'rgb',
): Promise<void> {
  const [height, width] = targetSize;
  const shrunkWidth = Math.min(source.width, width);
  const shrunkHeight = Math.min(source.height, height);
  if (shrunkWidth !== source.width || shrunkHeight !== source.height) {
    // fastShrinkOnLoad false: a JPEG is pre-shrunk on load only by factors that leave ≥ 2× for lanczos, which keeps
    // the result close to PIL's full-resolution lanczos while still skipping most of the work on big photos.
    image.resize(shrunkWidth, shrunkHeight, { fit: 'fill', kernel: 'lanczos3', fastShrinkOnLoad: false });
  }
  const grows = shrunkWidth < width || shrunkHeight < height;
  if (!grows) image.removeAlpha();
  const { data, info } = await image
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.width !== shrunkWidth || info.height !== shrunkHeight || (info.channels !== 3 && info.channels !== 4)) {
    // Not reachable for the inputs the callers let through; kept so a surprise is an error, not a wrong tensor.
    throw invalidArgument(
      `image resized to ${info.width}×${info.height}×${info.channels}, not ${shrunkWidth}×${shrunkHeight}×3 or ×4`,
    );
  }
  const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  growInto(
    { data: pixels, width: info.width, height: info.height, channels: info.channels },
    targetSize,
    tensor,
    order,
  );
}

/**
 * Decoded pixels (3 channels, at most MAX_SHRINK × targetSize on each axis) → the scaled floats in `tensor`: axes
 * larger than the target shrink exactly as sharp would shrink them (libvips-shrink.ts), then growInto.
 */
export function resizePixelsInto(pixels: Pixels, targetSize: readonly [number, number], tensor: Float32Array): void {
  // The shrink's buffers come after growInto's three slots.
  const shrunk = shrinkLikeLibvips(pixels, targetSize, (slot, bytes) => scratch(GROW_SLOTS + slot, bytes));
  growInto(shrunk, targetSize, tensor);
}

/**
 * The part of resizeInto after libvips: pixels at most targetSize on each axis (3 channels, or 4 when an axis grows)
 * → Pillow's lanczos on the axes that grow, premultiplied when there is alpha, alpha dropped → the scaled floats in
 * `tensor`. Synchronous from start to end, so the module's scratch buffers are never shared by two requests.
 */
export function growInto(
  pixels: Pixels,
  targetSize: readonly [number, number],
  tensor: Float32Array,
  order: ChannelOrder = 'rgb',
): void {
  const [height, width] = targetSize;
  if (pixels.width < width || pixels.height < height) {
    const hasAlpha = pixels.channels === 4;
    if (hasAlpha) premultiplyAlpha(pixels);
    if (pixels.width < width)
      pixels = resampleHorizontal(pixels, width, scratch(0, width * pixels.height * pixels.channels));
    if (pixels.height < height) pixels = resampleVertical(pixels, height, scratch(1, width * height * pixels.channels));
    if (hasAlpha) pixels = unpremultiplyAndDropAlpha(pixels, scratch(2, width * height * 3));
  }
  writeModelTensor(pixels.data, tensor, order);
}

/**
 * Grow-only byte buffers for the resampler's intermediate images. Memory that was touched once is cheap to reuse;
 * freshly allocated memory costs a page fault per 4 KiB on first touch, more than the resampling itself.
 */
const scratchBuffers: Uint8Array[] = [];

/** growInto's scratch slots: 0 horizontal pass, 1 vertical pass, 2 alpha dropped. */
const GROW_SLOTS = 3;

function scratch(slot: number, bytes: number): Uint8Array {
  const buffer = scratchBuffers[slot];
  if (buffer !== undefined && buffer.length >= bytes) return buffer;
  return (scratchBuffers[slot] = new Uint8Array(bytes));
}

export type ChannelOrder = 'rgb' | 'bgr';

/**
 * Interleaved 3-channel bytes → float32 model input in `tensor`, RGB order, swapping from BGR when asked: each byte
 * becomes ((byte/255) − 0.5)·2, every step rounded to float32 exactly as numpy does it on a float32 array.
 */
export function writeModelTensor(pixels: Uint8Array, tensor: Float32Array, order: ChannelOrder = 'rgb'): void {
  if (tensor.length !== pixels.length) {
    throw new Error(`tensor holds ${tensor.length} values, the image has ${pixels.length}`);
  }
  scaleToFloats(pixels, tensor, order === 'bgr');
}
