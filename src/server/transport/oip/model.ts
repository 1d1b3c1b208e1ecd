/**
 * The served model as the Open Inference Protocol sees it: one model (`xception`, version `1`), its tensors, its
 * platform, and the server's metadata. Shared by the gRPC and REST sides.
 */
import { Code, ServiceError } from '../../errors.js';
import type { ModelService } from '../../core/model-service.js';

export const SERVER_NAME = 'xception';
export const MODEL_NAME = 'xception';
export const MODEL_VERSION = '1';

export const IMAGE_INPUT = 'image';
export const PIXELS_INPUT = 'pixels';
export const PROBABILITIES_OUTPUT = 'probabilities';
/** The classification extension's output parameter: answer the top k classes as "<score>:<index>:<label>". */
export const CLASSIFICATION_PARAMETER = 'classification';

/** Protocol extensions this server implements (ServerMetadata, GET /v2). */
export const EXTENSIONS: readonly string[] = ['classification'];

/**
 * Elements (N) one request may carry, whatever --max-batch says (1 by default): each element is scheduled as its own
 * Predict, so N only bounds how much of the queue one request can take at once.
 */
export const MIN_REQUEST_BATCH = 32;

export interface TensorMetadata {
  readonly name: string;
  readonly datatype: string;
  /** −1 for a variable dimension. */
  readonly shape: readonly number[];
}

export interface ServerMetadata {
  readonly name: string;
  readonly version: string;
  readonly extensions: readonly string[];
}

export interface ModelMetadata {
  readonly name: string;
  readonly versions: readonly string[];
  readonly platform: string;
  readonly inputs: readonly TensorMetadata[];
  readonly outputs: readonly TensorMetadata[];
}

/** Triton's platform names where one exists (ONNX Runtime); the engine's own otherwise. */
const PLATFORMS: Readonly<Record<string, string>> = { onnx: 'onnxruntime_onnx', tfjs: 'tensorflowjs' };

/** The largest N of one request. */
export function maxRequestBatch(service: ModelService): number {
  return Math.max(service.limits.maxBatch, MIN_REQUEST_BATCH);
}

/** NOT_FOUND for any model but ours; an empty version means "the server's choice", which is `1`. */
export function resolveModel(name: string, version: string): void {
  if (name !== MODEL_NAME) {
    throw new ServiceError(
      Code.NOT_FOUND,
      `unknown model ${JSON.stringify(name)}: this server serves ${JSON.stringify(MODEL_NAME)}`,
    );
  }
  if (version !== '' && version !== MODEL_VERSION) {
    throw new ServiceError(
      Code.NOT_FOUND,
      `model ${JSON.stringify(MODEL_NAME)} has no version ${JSON.stringify(version)}; its only version is ${JSON.stringify(MODEL_VERSION)}`,
    );
  }
}

export function serverMetadata(service: ModelService): ServerMetadata {
  return { name: SERVER_NAME, version: service.metadata().runtime?.version ?? '', extensions: EXTENSIONS };
}

export function modelMetadata(service: ModelService): ModelMetadata {
  const engine = service.runtime.engine.info.engine;
  return {
    name: MODEL_NAME,
    versions: [MODEL_VERSION],
    platform: PLATFORMS[engine] ?? engine,
    inputs: [
      { name: IMAGE_INPUT, datatype: 'BYTES', shape: [-1] },
      { name: PIXELS_INPUT, datatype: 'UINT8', shape: [-1, -1, -1, 3] },
    ],
    outputs: [{ name: PROBABILITIES_OUTPUT, datatype: 'FP32', shape: [-1, service.metadata().labels.length] }],
  };
}
