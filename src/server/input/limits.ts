/**
 * What the input stage accepts, derived from ModelHub's config.json (`model.io.input`, checked by contrib.ts), plus
 * our own safety cap on decoded pixels and the model's input size.
 */
import { DEFAULT_MAX_INPUT_PIXELS } from '../config.js';
import type { ModelHubInput } from '../contrib.js';
import { XCEPTION_INPUT_SHAPE } from '../model/architecture.js';

/** An inclusive bound on one dimension; `max` absent means unbounded. */
export interface DimLimit {
  readonly min: number;
  readonly max?: number;
}

export interface DimLimits {
  readonly channels: DimLimit;
  readonly height: DimLimit;
  readonly width: DimLimit;
}

export interface InputLimits {
  /** MIME types, as config.json lists them (image/png, image/jpg, image/jpeg). */
  readonly allowedFormats: readonly string[];
  readonly dimLimits: DimLimits;
  /** Cap on width × height of any input, checked from the header before pixels are decoded (decompression bombs). */
  readonly maxInputPixels: number;
  /** The model's input size, [height, width]. */
  readonly targetSize: readonly [height: number, width: number];
}

/** Encoded formats the decoder can recognise by signature, keyed by the MIME types that name them. */
const DECODABLE_MIME_TYPES: ReadonlyMap<string, EncodedFormat> = new Map([
  ['image/png', 'png'],
  ['image/jpeg', 'jpeg'],
  ['image/jpg', 'jpeg'],
]);

export type EncodedFormat = 'png' | 'jpeg';

/** The encoded formats a list of MIME types allows; throws on a MIME type the decoder cannot check by signature. */
export function encodedFormatsOf(mimeTypes: readonly string[]): ReadonlySet<EncodedFormat> {
  const formats = new Set<EncodedFormat>();
  for (const mime of mimeTypes) {
    const format = DECODABLE_MIME_TYPES.get(mime.trim().toLowerCase());
    if (format === undefined) {
      const supported = [...DECODABLE_MIME_TYPES.keys()].join(', ');
      throw new Error(`input format ${JSON.stringify(mime)} is not supported; supported: ${supported}`);
    }
    formats.add(format);
  }
  return formats;
}

/**
 * Derives the limits from a checked config.json. Throws (a configuration error, not a caller's) when it names formats
 * the decoder cannot handle.
 */
export function inputLimitsFromConfig(
  config: { readonly model: { readonly io: { readonly input: ModelHubInput } } },
  overrides: Partial<InputLimits> = {},
): InputLimits {
  const {
    format,
    dim_limits: [channels, height, width],
  } = config.model.io.input;
  const limits: InputLimits = {
    allowedFormats: [...format],
    dimLimits: { channels: toDimLimit(channels), height: toDimLimit(height), width: toDimLimit(width) },
    maxInputPixels: DEFAULT_MAX_INPUT_PIXELS,
    targetSize: [XCEPTION_INPUT_SHAPE[0], XCEPTION_INPUT_SHAPE[1]],
    // An override given as undefined keeps the default.
    ...Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined)),
  };
  encodedFormatsOf(limits.allowedFormats);
  if (!(Number.isSafeInteger(limits.maxInputPixels) && limits.maxInputPixels > 0)) {
    throw new Error(`maxInputPixels must be a positive integer; got ${limits.maxInputPixels}`);
  }
  return limits;
}

/** A missing min means 1, as in ModelHub. */
function toDimLimit({ min = 1, max }: ModelHubInput['dim_limits'][number]): DimLimit {
  return max === undefined ? { min } : { min, max };
}
