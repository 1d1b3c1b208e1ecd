/** createModelClient: the typed, promise- and async-iterable-based client of modelhub.v1.ModelService. */
import type { Metadata } from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import type {
  Metadata as MetadataMessage,
  ModelServiceClient,
  PredictResponse,
} from '../gen/modelhub/v1/model_service.js';
import { baseHeaders, channelCredentials, channelOptions } from './channel.js';
import { toPrediction, toPredictRequest } from './convert.js';
import { absoluteDeadline } from './deadline.js';
import { healthCheck } from './health.js';
import { Code, ModelError } from './errors.js';
import { DEFAULT_MAX_IN_FLIGHT, retryPolicy, type ModelClientOptions } from './options.js';
import { predictStream } from './predict-stream.js';
import { ModelServiceGrpcClient } from './request-encoding.js';
import { resolveTarget } from './target.js';
import { injectTraceContext } from './trace-context.js';
import type {
  CallOptions,
  Frame,
  FrameResult,
  HealthStatus,
  ImageInput,
  ModelMetadata,
  Prediction,
  PredictOptions,
  PredictStreamOptions,
} from './types.js';
import { firstHeader, unaryCall, type UnaryInvoker } from './unary.js';

export interface ModelClient {
  /** The grpc-js target the client dials, e.g. "ipv4:10.0.0.1:50051,10.0.0.2:50051". */
  readonly target: string;
  /** The model and the server: config, labels, limits, runtime (engine, weights, instance). */
  getMetadata(options?: CallOptions): Promise<ModelMetadata>;
  /** Classifies one image. */
  predict(input: ImageInput, options?: PredictOptions): Promise<Prediction>;
  /** Classifies a stream of frames; one result per frame, in frame order. */
  predictStream(
    frames: AsyncIterable<Frame> | Iterable<Frame>,
    options?: PredictStreamOptions,
  ): AsyncGenerator<FrameResult, void, undefined>;
  /** gRPC health Check of the server ("" — the default) or of one service, e.g. "modelhub.v1.ModelService". */
  health(service?: string, options?: CallOptions): Promise<HealthStatus>;
  /**
   * Closes the channel: calls already started still finish (grpc-js lets them), later ones fail at once. To stop a call
   * in progress, abort its `signal`.
   */
  close(): void;
}

export function createModelClient(address: string | readonly string[], options: ModelClientOptions = {}): ModelClient {
  const target = resolveTarget(address);
  const grpc = new ModelServiceGrpcClient(
    target,
    channelCredentials(options),
    channelOptions(options, retryPolicy(options.retry)),
  );
  return new GrpcModelClient(target, grpc, options);
}

class GrpcModelClient implements ModelClient {
  private closed = false;

  constructor(
    readonly target: string,
    private readonly grpc: ModelServiceClient,
    private readonly options: ModelClientOptions,
  ) {}

  async getMetadata(options: CallOptions = {}): Promise<ModelMetadata> {
    const { response } = await this.unary<MetadataMessage>(
      (metadata, callOptions, callback) => this.grpc.getMetadata({}, metadata, callOptions, callback),
      options,
    );
    return response;
  }

  async predict(input: ImageInput, options: PredictOptions = {}): Promise<Prediction> {
    const request = toPredictRequest(input, options.id ?? randomUUID(), options.topK);
    const { response, headers } = await this.unary<PredictResponse>(
      (metadata, callOptions, callback) => this.grpc.predict(request, metadata, callOptions, callback),
      options,
    );
    return toPrediction(response, firstHeader(headers, 'x-instance'));
  }

  predictStream(
    frames: AsyncIterable<Frame> | Iterable<Frame>,
    options: PredictStreamOptions = {},
  ): AsyncGenerator<FrameResult, void, undefined> {
    return predictStream(
      (metadata, callOptions) => {
        this.assertOpen();
        return this.grpc.predictStream(metadata, callOptions);
      },
      this.headers(options.waitForReady),
      frames,
      {
        ...options,
        maxInFlight: options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
        deadline: absoluteDeadline(options.deadline),
      },
    );
  }

  async health(service = '', options: CallOptions = {}): Promise<HealthStatus> {
    const { response } = await this.unary(healthCheck(this.grpc, service), options);
    return response;
  }

  close(): void {
    this.closed = true;
    this.grpc.close();
  }

  /** A unary call with the client's headers and deadline; the channel's service config retries it. */
  private unary<Res>(invoke: UnaryInvoker<Res>, options: CallOptions) {
    this.assertOpen();
    const deadline = absoluteDeadline(options.deadline, this.options.deadlineMs);
    return unaryCall(invoke, this.headers(options.waitForReady), { deadline, signal: options.signal });
  }

  private assertOpen(): void {
    if (this.closed) throw new ModelError(Code.FAILED_PRECONDITION, 'the client is closed');
  }

  /** A call's headers, taken as the call starts: the caller's trace context is the one active then. */
  private headers(waitForReady = this.options.waitForReady): Metadata {
    const metadata = baseHeaders(this.options);
    if (waitForReady) metadata.setOptions({ waitForReady: true });
    injectTraceContext(metadata);
    return metadata;
  }
}
