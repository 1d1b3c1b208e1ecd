import type { EncodedFormat } from './limits.js';

/** One image, ready for the model. */
export interface PreparedImage {
  /** targetSize[0] × targetSize[1] × 3, NHWC without the batch axis, RGB in [−1, 1]. */
  readonly tensor: Float32Array;
  /** Of the original image. */
  readonly width: number;
  readonly height: number;
  /** Of the original image (alpha included), e.g. 1 grey, 3 RGB, 4 RGBA. */
  readonly channels: number;
  /** `raw` for pixels the caller sent undecoded. */
  readonly format: EncodedFormat | 'raw';
}
