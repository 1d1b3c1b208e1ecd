/** PredictRequest (the wire message) → PredictInput (the core's view). */
import { PixelFormat, pixelFormatToJSON, type PredictRequest } from '../../../gen/modelhub/v1/model_service.js';
import type { PredictInput } from '../../core/model-service.js';
import type { RawPixelFormat } from '../../input/raw.js';

const PIXEL_FORMATS: Partial<Record<PixelFormat, RawPixelFormat>> = {
  [PixelFormat.PIXEL_FORMAT_RGB8]: 'RGB8',
  [PixelFormat.PIXEL_FORMAT_RGBA8]: 'RGBA8',
  [PixelFormat.PIXEL_FORMAT_GRAY8]: 'GRAY8',
  [PixelFormat.PIXEL_FORMAT_BGR8]: 'BGR8',
};

export function toPredictInput(request: PredictRequest): PredictInput {
  const input = request.input;
  if (input?.$case === 'raw') {
    const raw = input.value;
    // An unmapped format (UNSPECIFIED, or a number from a newer client) goes on by name; the input stage refuses it
    // with a message listing the formats it takes, in Predict and PredictStream alike.
    const format = PIXEL_FORMATS[raw.format] ?? (pixelFormatToJSON(raw.format) as RawPixelFormat);
    return {
      id: request.id,
      topK: request.topK,
      image: { kind: 'raw', raw: { width: raw.width, height: raw.height, format, data: raw.data } },
    };
  }
  return {
    id: request.id,
    topK: request.topK,
    image: input?.$case === 'image' ? { kind: 'encoded', bytes: input.value } : undefined,
  };
}
