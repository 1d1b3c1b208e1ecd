/**
 * Tensors in and out, independent of the wire: both the gRPC and the REST side turn their messages into InferRequest
 * and take OutputTensor back, so every check and every message below is the same on both.
 *
 * Inputs (one per request): `image`, BYTES [N], each element an encoded PNG or JPEG; or `pixels`, UINT8 [N, H, W, 3],
 * RGB rows, taken through the same raw-frame path as Predict's `raw` input. Output: `probabilities`, FP32 [N, classes],
 * or with the classification extension BYTES [N, k] of "<score>:<index>:<label>", best first.
 */
import { invalidArgument } from '../../errors.js';
import type { ImageInput } from '../../core/model-service.js';
import { toLabelList } from '../../output/label-list.js';
import { CLASSIFICATION_PARAMETER, IMAGE_INPUT, PIXELS_INPUT, PROBABILITIES_OUTPUT } from './model.js';

/** An input tensor's elements as the transport carried them. */
export type TensorContents =
  /** Row-major bytes (gRPC raw_input_contents); BYTES elements each as a 4-byte little-endian length and the bytes. */
  | { readonly kind: 'raw'; readonly bytes: Uint8Array }
  /** One byte string per element (gRPC bytes_contents, REST base64 strings). */
  | { readonly kind: 'bytes'; readonly elements: readonly Uint8Array[] }
  /** Numbers (gRPC uint_contents, REST numbers). */
  | { readonly kind: 'numbers'; readonly values: ArrayLike<number> }
  | { readonly kind: 'none' }
  /** A representation no input of this model takes; `found` names it for the error message. */
  | { readonly kind: 'other'; readonly found: string };

export interface InputTensor {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly contents: TensorContents;
}

export interface RequestedOutput {
  readonly name: string;
  readonly parameters: Readonly<Record<string, unknown>>;
}

export interface InferRequest {
  readonly inputs: readonly InputTensor[];
  /** Empty: every output, with default settings. */
  readonly outputs: readonly RequestedOutput[];
}

export interface OutputPlan {
  readonly name: string;
  /** The classification extension's k; absent: the probabilities themselves. */
  readonly classification?: number;
}

export interface DecodedRequest {
  /** The input's name, for messages about one of its elements. */
  readonly inputName: string;
  readonly images: readonly ImageInput[];
  readonly outputs: readonly OutputPlan[];
}

export type OutputTensor =
  | {
      readonly name: string;
      readonly datatype: 'FP32';
      readonly shape: readonly number[];
      readonly values: Float32Array;
    }
  | {
      readonly name: string;
      readonly datatype: 'BYTES';
      readonly shape: readonly number[];
      readonly elements: readonly string[];
    };

const INPUT_HELP = `"${IMAGE_INPUT}" (BYTES, shape [N], encoded PNG or JPEG) or "${PIXELS_INPUT}" (UINT8, shape [N, H, W, 3], RGB)`;
const CHANNELS = 3;

/** Checks a request against the model's tensors and turns its input into images; throws INVALID_ARGUMENT. */
export function decodeInferRequest(request: InferRequest, maxBatch: number): DecodedRequest {
  if (request.inputs.length !== 1) {
    const names = request.inputs.map((input) => JSON.stringify(input.name)).join(', ');
    throw invalidArgument(
      `expected exactly one input tensor, ${INPUT_HELP}; got ${request.inputs.length}${names ? ` (${names})` : ''}`,
    );
  }
  const input = request.inputs[0]!;
  let images: ImageInput[];
  switch (input.name) {
    case IMAGE_INPUT:
      images = encodedImages(input, maxBatch);
      break;
    case PIXELS_INPUT:
      images = pixelImages(input, maxBatch);
      break;
    default:
      throw invalidArgument(`unknown input ${JSON.stringify(input.name)}: expected ${INPUT_HELP}`);
  }
  return { inputName: input.name, images, outputs: planOutputs(request.outputs) };
}

function encodedImages(input: InputTensor, maxBatch: number): ImageInput[] {
  checkDatatype(input, 'BYTES');
  const shape = input.shape;
  if (shape.length !== 1 || !inBatch(shape[0]!, maxBatch)) {
    throw invalidArgument(
      `input "${input.name}" has shape ${formatShape(shape)}; expected [N] with 1 ≤ N ≤ ${maxBatch}`,
    );
  }
  const count = shape[0]!;
  const { contents } = input;
  let elements: readonly Uint8Array[];
  switch (contents.kind) {
    case 'raw':
      elements = splitBytesElements(contents.bytes, `raw contents of input "${input.name}"`);
      break;
    case 'bytes':
      elements = contents.elements;
      break;
    case 'none':
      throw invalidArgument(
        `input "${input.name}" has no contents; shape ${formatShape(shape)} needs ${count} encoded image(s)`,
      );
    default:
      throw invalidArgument(
        `input "${input.name}" is BYTES: send each encoded image as one bytes element ` +
          `(gRPC contents.bytes_contents or raw_input_contents; REST a base64 string); got ${describe(contents)}`,
      );
  }
  if (elements.length !== count) {
    throw invalidArgument(
      `input "${input.name}" has ${elements.length} element(s); shape ${formatShape(shape)} needs ${count}`,
    );
  }
  return elements.map((bytes) => ({ kind: 'encoded', bytes }));
}

function pixelImages(input: InputTensor, maxBatch: number): ImageInput[] {
  checkDatatype(input, 'UINT8');
  const shape = input.shape;
  const [count = 0, height = 0, width = 0, channels = 0] = shape;
  if (
    shape.length !== 4 ||
    !inBatch(count, maxBatch) ||
    !isPositiveInteger(height) ||
    !isPositiveInteger(width) ||
    channels !== CHANNELS
  ) {
    throw invalidArgument(
      `input "${input.name}" has shape ${formatShape(shape)}; expected [N, H, W, 3] (RGB) with 1 ≤ N ≤ ${maxBatch} and H, W ≥ 1`,
    );
  }
  const frameSize = height * width * CHANNELS;
  const expected = count * frameSize;
  const { contents } = input;
  let data: Uint8Array;
  switch (contents.kind) {
    case 'raw':
      if (contents.bytes.length !== expected) {
        throw invalidArgument(
          `raw contents of input "${input.name}" are ${contents.bytes.length} bytes; shape ${formatShape(shape)} needs ${expected}`,
        );
      }
      data = contents.bytes;
      break;
    case 'numbers':
      if (contents.values.length !== expected) {
        throw invalidArgument(
          `input "${input.name}" has ${contents.values.length} values; shape ${formatShape(shape)} needs ${expected}`,
        );
      }
      data = toUint8(contents.values, input.name);
      break;
    case 'none':
      throw invalidArgument(
        `input "${input.name}" has no contents; shape ${formatShape(shape)} needs ${expected} values`,
      );
    default:
      throw invalidArgument(
        `input "${input.name}" is UINT8: send its values as numbers 0–255 ` +
          `(gRPC contents.uint_contents or raw_input_contents; REST a flat array of numbers); got ${describe(contents)}`,
      );
  }
  return Array.from(
    { length: count },
    (_, i): ImageInput => ({
      kind: 'raw',
      raw: { width, height, format: 'RGB8', data: data.subarray(i * frameSize, (i + 1) * frameSize) },
    }),
  );
}

function checkDatatype(input: InputTensor, expected: string): void {
  if (input.datatype !== expected) {
    throw invalidArgument(`input "${input.name}" has datatype ${JSON.stringify(input.datatype)}; expected ${expected}`);
  }
}

function toUint8(values: ArrayLike<number>, name: string): Uint8Array {
  const data = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    if (!Number.isInteger(value) || value < 0 || value > 255) {
      throw invalidArgument(`input "${name}" value ${value} at index ${i} is not a UINT8 (a whole number 0–255)`);
    }
    data[i] = value;
  }
  return data;
}

function planOutputs(requested: readonly RequestedOutput[]): OutputPlan[] {
  if (requested.length === 0) return [{ name: PROBABILITIES_OUTPUT }];
  const seen = new Set<string>();
  return requested.map(({ name, parameters }) => {
    if (name !== PROBABILITIES_OUTPUT) {
      throw invalidArgument(
        `unknown output ${JSON.stringify(name)}: the model's output is "${PROBABILITIES_OUTPUT}" (FP32, shape [N, classes])`,
      );
    }
    if (seen.has(name)) throw invalidArgument(`output "${name}" is requested more than once`);
    seen.add(name);
    const k = parameters[CLASSIFICATION_PARAMETER];
    if (k === undefined) return { name };
    if (typeof k !== 'number' || !Number.isSafeInteger(k) || k < 1) {
      throw invalidArgument(
        `output parameter "${CLASSIFICATION_PARAMETER}" must be a whole number ≥ 1 (int64); got ${JSON.stringify(k)}`,
      );
    }
    return { name, classification: k };
  });
}

/** One output tensor per planned output, from each element's probabilities (class order). */
export function encodeOutputs(
  plan: readonly OutputPlan[],
  rows: readonly Float32Array[],
  labels: readonly string[],
): OutputTensor[] {
  return plan.map((output): OutputTensor => {
    if (output.classification === undefined) {
      const values = new Float32Array(rows.length * labels.length);
      rows.forEach((row, i) => values.set(row, i * labels.length));
      return { name: output.name, datatype: 'FP32', shape: [rows.length, labels.length], values };
    }
    // k past the class count means all of them, as Predict's top_k.
    const k = Math.min(output.classification, labels.length);
    const elements = rows.flatMap((row) =>
      toLabelList(row, labels, k, true).map(({ probability, index, label }) => `${probability}:${index}:${label}`),
    );
    return { name: output.name, datatype: 'BYTES', shape: [rows.length, k], elements };
  });
}

/** BYTES in raw form: each element as a 4-byte little-endian length followed by its bytes (Triton's layout). */
export function splitBytesElements(raw: Uint8Array, what: string): Uint8Array[] {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const elements: Uint8Array[] = [];
  let offset = 0;
  while (offset < raw.length) {
    if (raw.length - offset < 4) {
      throw invalidArgument(
        `${what}: ${raw.length - offset} byte(s) left where element ${elements.length}'s 4-byte length should be`,
      );
    }
    const length = view.getUint32(offset, true);
    offset += 4;
    if (length > raw.length - offset) {
      throw invalidArgument(
        `${what}: element ${elements.length} declares ${length} bytes but only ${raw.length - offset} follow`,
      );
    }
    elements.push(raw.subarray(offset, offset + length));
    offset += length;
  }
  return elements;
}

export function joinBytesElements(elements: readonly Uint8Array[]): Buffer {
  const out = Buffer.alloc(elements.reduce((sum, element) => sum + 4 + element.length, 0));
  let offset = 0;
  for (const element of elements) {
    out.writeUInt32LE(element.length, offset);
    out.set(element, offset + 4);
    offset += 4 + element.length;
  }
  return out;
}

/** FP32 values as little-endian bytes, whatever the host's byte order. */
export function float32LittleEndian(values: Float32Array): Buffer {
  const out = Buffer.alloc(values.length * 4);
  values.forEach((value, i) => out.writeFloatLE(value, i * 4));
  return out;
}

function inBatch(n: number, maxBatch: number): boolean {
  return Number.isSafeInteger(n) && n >= 1 && n <= maxBatch;
}

function isPositiveInteger(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 1;
}

function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function describe(contents: TensorContents): string {
  switch (contents.kind) {
    case 'raw':
      return 'raw contents';
    case 'bytes':
      return 'byte strings';
    case 'numbers':
      return 'numbers';
    case 'none':
      return 'no contents';
    case 'other':
      return contents.found;
  }
}
