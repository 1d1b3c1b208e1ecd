/**
 * The xception client: `import { createModelClient } from 'xception'`. Loads grpc-js and the generated stubs only —
 * none of the server's dependencies (ONNX Runtime, sharp, h5wasm, TensorFlow.js).
 */
export { createModelClient, type ModelClient } from './client.js';
export { Code, codeName, ModelError, type CodeName } from './errors.js';
export type { ModelClientOptions, RetryOptions, TlsOptions } from './options.js';
export { resolveTarget } from './target.js';
export type {
  CallOptions,
  Deadline,
  DimLimit,
  Frame,
  FrameError,
  FrameResult,
  HealthStatus,
  ImageInput,
  LabelProbability,
  ModelMetadata,
  ModelRef,
  OutputSpec,
  PixelFormatName,
  Prediction,
  PredictOptions,
  PredictStreamOptions,
  RawImage,
  Runtime,
  StreamPolicy,
} from './types.js';
