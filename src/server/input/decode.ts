/** Encoded image bytes (PNG, JPEG) → model input. */

import sharp from 'sharp';
import { Code, invalidArgument, ServiceError } from '../errors.js';
import { encodedFormatsOf, type EncodedFormat, type InputLimits } from './limits.js';
import { resizeToRgb8, toModelTensor } from './model-input.js';
import type { PreparedImage } from './prepared-image.js';
import { sniffFormat } from './sniff.js';
import { checkDims } from './validate.js';

/**
 * Decodes, validates and preprocesses one image the way ModelHub does (no EXIF rotation, embedded ICC profiles
 * ignored as PIL ignores them). Every refusal is a ServiceError with Code.INVALID_ARGUMENT. Decoding and shrinking run
 * on libuv's pool through sharp; the calling thread does the byte → float conversion and, for an image smaller than
 * the target on some axis, Pillow's lanczos on that axis (a few ms at most).
 */
export async function decodeImage(bytes: Uint8Array, limits: InputLimits): Promise<PreparedImage> {
  if (bytes.length === 0) throw invalidArgument('image is empty');
  const format = checkFormat(bytes, limits.allowedFormats);
  // A Buffer view, not a copy: sharp reads Buffers in place.
  const input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  // Header only: sharp opens lazily, so this reads dimensions without decoding pixels. Its own pixel limit is off
  // here so that an oversized image gets our message with its size; the pipeline below enforces the cap again.
  const metadata = await withDecodeErrors(format, () => sharp(input, { limitInputPixels: false }).metadata());
  if (metadata.format !== format) {
    throw invalidArgument(`could not decode ${label(format)} image: the decoder read it as ${metadata.format}`);
  }
  const dims = { width: metadata.width, height: metadata.height, channels: metadata.channels };
  checkDims(dims, limits);

  const image = sharp(input, {
    // 'error' also fails truncated files (tested); 'warning' would refuse JPEGs libjpeg merely warns about.
    failOn: 'error',
    limitInputPixels: limits.maxInputPixels,
    ignoreIcc: true,
    autoOrient: false,
  });
  if (metadata.depth === 'ushort') {
    // PIL reads a 16-bit PNG as 8-bit (the high byte) before resizing; going to 8-bit first gives the same pixels.
    // Grey goes to sRGB too: sharp's 16-bit grey → 'b-w' mishandles the alpha band (tested).
    image.pipelineColourspace('srgb');
  }
  const rgb = await withDecodeErrors(format, () => resizeToRgb8(image, dims, limits.targetSize));
  return { tensor: toModelTensor(rgb), ...dims, format };
}

/** The format the bytes really are, if the limits allow it; refuses anything else before a decoder sees it. */
function checkFormat(bytes: Uint8Array, allowedFormats: readonly string[]): EncodedFormat {
  const sniffed = sniffFormat(bytes);
  const allowed = encodedFormatsOf(allowedFormats);
  if (sniffed === 'png' || sniffed === 'jpeg') {
    if (allowed.has(sniffed)) return sniffed;
  }
  const what = sniffed === undefined ? 'unrecognised image format' : `unsupported image format ${label(sniffed)}`;
  throw invalidArgument(`${what}; allowed formats: ${allowedFormats.join(', ')}`);
}

async function withDecodeErrors<T>(format: EncodedFormat, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof ServiceError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new ServiceError(
      Code.INVALID_ARGUMENT,
      `could not decode ${label(format)} image: ${reason.trim().replace(/\s*\n\s*/g, '; ')}`,
      { cause: err },
    );
  }
}

function label(format: string): string {
  return format.toUpperCase();
}
