/** Encoded image bytes (PNG, JPEG) → model input. */

import sharp, { type Sharp } from 'sharp';
import { Code, invalidArgument, ServiceError } from '../errors.js';
import { readImageHeader, type ImageHeader } from './header.js';
import { encodedFormatsOf, type EncodedFormat, type InputLimits } from './limits.js';
import { decodeJpegHere, decodesHere } from './jpeg-turbo.js';
import { resizeInto, resizePixelsInto } from './model-input.js';
import type { PreparedImage } from './prepared-image.js';
import { sniffFormat } from './sniff.js';
import { checkDims, type ImageDims } from './validate.js';

/**
 * Decodes, validates and preprocesses one image the way ModelHub does (no EXIF rotation, embedded ICC profiles
 * ignored as PIL ignores them). Every refusal is a ServiceError with Code.INVALID_ARGUMENT. Decoding and shrinking run
 * on libuv's pool through sharp, except a small sequential JPEG's (jpeg-turbo.ts, then libvips-shrink.ts: the same
 * bytes sharp would give); the calling thread does the byte → float conversion and, for an image smaller than the
 * target on some axis, Pillow's lanczos on that axis (in WebAssembly SIMD: well under a millisecond). The floats are
 * written into `tensor` (the model's input size), which the serving path takes from a reused pool.
 */
export async function decodeImage(
  bytes: Uint8Array,
  limits: InputLimits,
  tensor: Float32Array = new Float32Array(limits.targetSize[0] * limits.targetSize[1] * 3),
): Promise<PreparedImage> {
  if (bytes.length === 0) throw invalidArgument('image is empty');
  const format = checkFormat(bytes, limits.allowedFormats);
  const what = `${label(format)} image`;

  // The header, read here, is checked against our limits before any pixel is decoded. A small sequential JPEG is
  // then decoded and shrunk right here (jpeg-turbo.ts, libvips-shrink.ts) unless libjpeg-turbo finds fault with it;
  // everything else takes one sharp pipeline, which decodes and shrinks.
  const header = readImageHeader(bytes, format);
  if (header !== undefined) {
    const dims = dimsOf(header);
    checkDims(dims, limits, what);
    const pixels =
      format === 'jpeg' && decodesHere(bytes, header, limits.targetSize) ? decodeJpegHere(bytes, header) : undefined;
    if (pixels !== undefined) {
      resizePixelsInto(pixels, limits.targetSize, tensor);
      return { tensor, ...dims, format };
    }
  }

  // libvips decodes exactly the header's dimensions, so checkDims was the pixel cap and libvips' own cap is only a
  // backstop. Headers this module cannot vouch for are asked of sharp, with libvips' cap off there, because it would
  // refuse that header read itself without the image's size in the message.
  // A Buffer view, not a copy: sharp reads Buffers in place.
  const input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const image = sharp(input, {
    // 'error' also fails truncated files (tested); 'warning' would refuse JPEGs libjpeg merely warns about.
    failOn: 'error',
    limitInputPixels: header === undefined ? false : limits.maxInputPixels,
    ignoreIcc: true,
    autoOrient: false,
  });
  const known = header ?? (await withDecodeErrors(format, () => headerFromSharp(image, format)));
  const dims = dimsOf(known);
  if (header === undefined) checkDims(dims, limits, what);
  if (known.bitsPerSample === 16) {
    // PIL reads a 16-bit PNG as 8-bit (the high byte) before resizing; going to 8-bit first gives the same pixels.
    // Grey goes to sRGB too: sharp's 16-bit grey → 'b-w' mishandles the alpha band (tested).
    image.pipelineColourspace('srgb');
  }
  await withDecodeErrors(format, () => resizeInto(image, dims, limits.targetSize, tensor));
  return { tensor, ...dims, format };
}

/** Width, height and channels alone: what a PreparedImage reports and the limits check. */
function dimsOf({ width, height, channels }: ImageDims): ImageDims {
  return { width, height, channels };
}

async function headerFromSharp(image: Sharp, format: EncodedFormat): Promise<ImageHeader> {
  const metadata = await image.metadata();
  if (metadata.format !== format) {
    throw invalidArgument(`could not decode ${label(format)} image: the decoder read it as ${metadata.format}`);
  }
  const { width, height, channels } = metadata;
  return { width, height, channels, bitsPerSample: metadata.depth === 'ushort' ? 16 : 8 };
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
