/**
 * What the input stage accepts, derived from ModelHub's config.json (`model.io.input`), plus our own safety cap on
 * decoded pixels.
 */

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

export const DEFAULT_MAX_INPUT_PIXELS = 50_000_000;
export const XCEPTION_INPUT_SIZE: readonly [number, number] = [299, 299];

/** The part of ModelHub's config.json this stage reads. */
export interface ModelHubInputConfig {
  readonly model: {
    readonly io: {
      readonly input: {
        readonly format: readonly string[];
        /** [channels, height, width], ModelHub's order. */
        readonly dim_limits: readonly { readonly min?: number; readonly max?: number }[];
      };
    };
  };
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
 * Derives the limits from a parsed config.json. Throws (a configuration error, not a caller's) when the config lacks
 * the fields or names formats the decoder cannot handle.
 */
export function inputLimitsFromConfig(
  config: ModelHubInputConfig,
  overrides: Partial<InputLimits> = {},
): InputLimits {
  const input = config?.model?.io?.input;
  if (!input || !Array.isArray(input.format) || !Array.isArray(input.dim_limits)) {
    throw new Error('config.json lacks model.io.input.format / model.io.input.dim_limits');
  }
  if (input.dim_limits.length !== 3) {
    throw new Error(
      `config.json dim_limits must list [channels, height, width]; got ${input.dim_limits.length} entries`,
    );
  }
  const names = ['channels', 'height', 'width'] as const;
  const [channels, height, width] = names.map((name, i) => toDimLimit(input.dim_limits[i], name));
  const limits: InputLimits = {
    allowedFormats: [...input.format],
    dimLimits: { channels: channels!, height: height!, width: width! },
    maxInputPixels: DEFAULT_MAX_INPUT_PIXELS,
    targetSize: XCEPTION_INPUT_SIZE,
    // An override given as undefined keeps the default.
    ...Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined)),
  };
  encodedFormatsOf(limits.allowedFormats);
  if (!(Number.isSafeInteger(limits.maxInputPixels) && limits.maxInputPixels > 0)) {
    throw new Error(`maxInputPixels must be a positive integer; got ${limits.maxInputPixels}`);
  }
  return limits;
}

function toDimLimit(limit: { readonly min?: number; readonly max?: number } | undefined, name: string): DimLimit {
  const min = limit?.min ?? 1;
  const max = limit?.max;
  if (!Number.isInteger(min) || min < 0 || (max !== undefined && (!Number.isInteger(max) || max < min))) {
    throw new Error(`config.json dim_limits for ${name} is invalid: ${JSON.stringify(limit)}`);
  }
  return max === undefined ? { min } : { min, max };
}
