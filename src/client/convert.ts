/** The client's types ↔ the generated protobuf messages. */
import { PixelFormat, type PredictRequest, type PredictResponse } from '../gen/modelhub/v1/model_service.js';
import { codeName, invalidArgument } from './errors.js';
import type { Frame, FrameResult, ImageInput, PixelFormatName, Prediction } from './types.js';

const PIXEL_FORMATS: Record<PixelFormatName, PixelFormat> = {
  RGB8: PixelFormat.PIXEL_FORMAT_RGB8,
  RGBA8: PixelFormat.PIXEL_FORMAT_RGBA8,
  GRAY8: PixelFormat.PIXEL_FORMAT_GRAY8,
  BGR8: PixelFormat.PIXEL_FORMAT_BGR8,
};

export function toPredictRequest(input: ImageInput, id: string, topK: number | undefined): PredictRequest {
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 0)) {
    throw invalidArgument(`topK must be a whole number ≥ 0, got ${topK}`);
  }
  return { id, topK: topK ?? 0, input: toInput(input) };
}

function toInput(input: ImageInput): PredictRequest['input'] {
  // The caller's bytes go into the request as they are (no copy: frames can be large).
  if (input instanceof Uint8Array) return { $case: 'image', value: input };
  if (typeof input !== 'object' || input === null || !(input.data instanceof Uint8Array)) {
    throw invalidArgument('an image is encoded bytes (Uint8Array) or { width, height, format, data }');
  }
  const format = PIXEL_FORMATS[input.format];
  if (format === undefined) {
    throw invalidArgument(
      `unknown pixel format "${String(input.format)}"; expected ${Object.keys(PIXEL_FORMATS).join(', ')}`,
    );
  }
  return { $case: 'raw', value: { width: input.width, height: input.height, format, data: input.data } };
}

/** The frame's image and id: the caller's, or its sequence number in the stream. */
export function toFrameRequest(frame: Frame, sequence: number, topK: number | undefined): PredictRequest {
  if (typeof frame === 'object' && frame !== null && 'image' in frame) {
    return toPredictRequest(frame.image, frame.id ?? String(sequence), topK);
  }
  return toPredictRequest(frame, String(sequence), topK);
}

export function toPrediction(response: PredictResponse, instance: string): Prediction {
  const output = response.outputs.find((o) => o.type === 'label_list') ?? response.outputs[0];
  return {
    id: response.id,
    labels: (output?.prediction ?? []).map(({ label, probability, index }) => ({ label, probability, index })),
    processingTime: response.processingTime,
    timestamp: response.timestamp,
    model: response.model,
    instance,
  };
}

export function toFrameResult(response: PredictResponse, instance: string): FrameResult {
  const { error } = response;
  if (!error) return toPrediction(response, instance);
  return {
    id: response.id,
    error: { code: error.code, codeName: codeName(error.code), message: error.message },
    timestamp: response.timestamp,
    model: response.model,
    instance,
  };
}
