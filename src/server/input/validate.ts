/** Checks an image's header dimensions against the limits, before any pixel is decoded. */

import { invalidArgument } from '../errors.js';
import type { DimLimit, InputLimits } from './limits.js';

export interface ImageDims {
  readonly width: number;
  readonly height: number;
  readonly channels: number;
}

/**
 * Throws INVALID_ARGUMENT naming the limit broken and the image's actual size; `what` names the image in the message
 * (e.g. "PNG image").
 */
export function checkDims(dims: ImageDims, limits: InputLimits, what = 'image'): void {
  const { width, height, channels } = dims;
  const size = `${width}×${height}`;
  const pixels = width * height;
  if (pixels > limits.maxInputPixels) {
    throw invalidArgument(`${what} is ${size} = ${pixels} pixels, over the limit of ${limits.maxInputPixels} pixels`);
  }
  checkDim(what, 'height', height, limits.dimLimits.height, 'px', size);
  checkDim(what, 'width', width, limits.dimLimits.width, 'px', size);
  checkDim(what, 'channel count', channels, limits.dimLimits.channels, '', size);
}

function checkDim(what: string, name: string, value: number, limit: DimLimit, unit: string, size: string): void {
  const u = unit ? ` ${unit}` : '';
  if (value < limit.min) {
    throw invalidArgument(`${what} ${name} ${value}${u} is below the minimum of ${limit.min}${u} (image is ${size})`);
  }
  if (limit.max !== undefined && value > limit.max) {
    throw invalidArgument(`${what} ${name} ${value}${u} is above the maximum of ${limit.max}${u} (image is ${size})`);
  }
}
