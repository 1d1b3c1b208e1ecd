/** Undecoded pixels sent by the caller → model input, through the same resize and scaling as encoded images. */

import sharp from 'sharp';
import { Code, invalidArgument, ServiceError } from '../errors.js';
import type { InputLimits } from './limits.js';
import { resizeInto, writeModelTensor } from './model-input.js';
import type { PreparedImage } from './prepared-image.js';
import { checkDims } from './validate.js';

/** Interleaved 8-bit layouts; the transport maps its own enum onto these names. */
export type RawPixelFormat = 'RGB8' | 'RGBA8' | 'GRAY8' | 'BGR8';

export interface RawImage {
  readonly width: number;
  readonly height: number;
  readonly format: RawPixelFormat;
  /** Row-major, interleaved, width × height × channels bytes, no row padding. */
  readonly data: Uint8Array;
}

const CHANNELS: Readonly<Record<RawPixelFormat, 1 | 3 | 4>> = { RGB8: 3, RGBA8: 4, GRAY8: 1, BGR8: 3 };

/**
 * Validates and preprocesses raw pixels. RGBA is resized premultiplied and its alpha dropped afterwards, exactly
 * like an RGBA PNG; BGR is swapped to RGB after the resize (resizing acts on each channel alone, so it commutes).
 * The floats are written into `tensor`, as decodeImage does.
 */
export async function prepareRawImage(
  raw: RawImage,
  limits: InputLimits,
  tensor: Float32Array = new Float32Array(limits.targetSize[0] * limits.targetSize[1] * 3),
): Promise<PreparedImage> {
  const channels = Object.hasOwn(CHANNELS, raw.format) ? CHANNELS[raw.format] : undefined;
  if (channels === undefined) {
    const allowed = Object.keys(CHANNELS).join(', ');
    throw invalidArgument(`unsupported raw pixel format ${String(raw.format)}; allowed: ${allowed}`);
  }
  const { width, height } = raw;
  if (!isPositiveInteger(width) || !isPositiveInteger(height)) {
    throw invalidArgument(`raw image width and height must be positive integers; got ${width}×${height}`);
  }
  checkDims({ width, height, channels }, limits);
  const expected = width * height * channels;
  if (raw.data.length !== expected) {
    const shape = `${width}×${height}×${channels}`;
    throw invalidArgument(`raw ${raw.format} image data is ${raw.data.length} bytes; expected ${shape} = ${expected}`);
  }

  const order = raw.format === 'BGR8' ? 'bgr' : 'rgb';
  const prepared: PreparedImage = { tensor, width, height, channels, format: 'raw' };
  const [targetHeight, targetWidth] = limits.targetSize;
  if (channels === 3 && width === targetWidth && height === targetHeight) {
    // A frame already at the model's size: nothing to resize, so no sharp pipeline, no copy.
    writeModelTensor(raw.data, tensor, order);
    return prepared;
  }
  try {
    await resizeInto(
      sharp(raw.data, { raw: { width, height, channels }, limitInputPixels: limits.maxInputPixels }),
      { width, height },
      limits.targetSize,
      tensor,
      order,
    );
  } catch (err) {
    if (err instanceof ServiceError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new ServiceError(Code.INVALID_ARGUMENT, `could not process raw ${raw.format} image: ${reason.trim()}`, {
      cause: err,
    });
  }
  return prepared;
}

function isPositiveInteger(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0;
}
