/**
 * The service itself, independent of any transport: gRPC and HTTP handlers translate their calls into `predict` with
 * the call's one AbortSignal (core/call-signal.ts), and translate its ServiceError codes back.
 *
 * Data path: input (decode, validate) → scheduler → engine → output (label list).
 */
import { setMaxListeners } from 'node:events';
import sharp from 'sharp';
import type { Metadata, Output, Runtime } from '../../gen/modelhub/v1/model_service.js';
import { Code, ServiceError, invalidArgument } from '../errors.js';
import { decodeImage } from '../input/decode.js';
import { inputLimitsFromConfig, type InputLimits } from '../input/limits.js';
import type { PreparedImage } from '../input/prepared-image.js';
import { prepareRawImage, type RawImage } from '../input/raw.js';
import { resolveTopK, toLabelList } from '../output/label-list.js';
import { Scheduler, type SchedulerOptions } from '../scheduler/scheduler.js';
import type { Metrics } from '../observability/metrics.js';
import type { CallTrace } from '../observability/tracing.js';
import { buildMetadata, defaultTop, precisionFields } from './metadata.js';
import type { ModelRuntime } from './model-runtime.js';

export type ImageInput =
  | { readonly kind: 'encoded'; readonly bytes: Uint8Array }
  | { readonly kind: 'raw'; readonly raw: RawImage };

export interface PredictInput {
  readonly id: string;
  readonly image?: ImageInput;
  /** 0 = the model's default (config.json modelhub.top); ≥ classes = all. */
  readonly topK: number;
  /** Label order: by probability (ModelHub's `sort`, the default) or by class index (ModelHub's REST answer). */
  readonly order?: 'probability' | 'class';
}

export interface CallContext {
  /** Ends the call: cancelled, past its deadline (core/call-signal.ts). */
  readonly signal?: AbortSignal;
  /** Prepare at once, but do not run before this settles (see Scheduler's SubmitOptions.after). */
  readonly after?: Promise<unknown>;
  /** The call's trace, when tracing is on: each prediction's stages are recorded in it (observability/tracing.ts). */
  readonly trace?: CallTrace;
}

export interface StageTimings {
  readonly prepareMs: number;
  readonly queueMs: number;
  readonly inferenceMs: number;
}

/** The model that answered: its ModelHub id and name, and the weights that produced the answer. */
export interface ModelRef {
  readonly id: string;
  readonly name: string;
  readonly weightsSha256: string;
}

export interface Prediction {
  readonly id: string;
  readonly outputs: Output[];
  /** Seconds, as ModelHub's processing_time. */
  readonly processingTime: number;
  readonly timestamp: Date;
  readonly model: ModelRef;
  readonly timings: StageTimings;
}

export type ServiceState = 'serving' | 'draining' | 'stopped';

export interface ServiceLimits extends SchedulerOptions {
  readonly maxMessageBytes: number;
  readonly maxInputPixels: number;
  readonly streamMaxInFlight: number;
  readonly maxStreams: number;
}

/**
 * libvips settings for a server whose cores belong to the engine: one thread per image operation (images are small;
 * parallelism comes from several requests at once on libuv's pool, not from splitting one image), and no operation
 * cache (every request is a different image; the cache only holds memory).
 */
function configureSharp(): void {
  sharp.concurrency(1);
  sharp.cache(false);
}

/** What the service derives from one loaded runtime; replaced as a whole when the weights are reloaded. */
interface Serving {
  readonly runtime: ModelRuntime;
  readonly metadata: Metadata;
  readonly modelRef: ModelRef;
}

export class ModelService {
  private state: ServiceState = 'serving';
  private readonly drainController = new AbortController();
  /** Aborted when draining starts: long-lived calls (streams) stop taking new work. */
  readonly drainSignal: AbortSignal = this.drainController.signal;
  readonly scheduler: Scheduler;
  readonly inputLimits: InputLimits;
  private serving_: Serving;
  private readonly labelCount: number;

  constructor(
    runtime: ModelRuntime,
    readonly limits: ServiceLimits,
    readonly instance: string,
    private readonly version: string,
    private readonly metrics?: Metrics,
  ) {
    const { contrib, engine } = runtime;
    configureSharp();
    // Every open stream listens for the drain while it waits for a frame: as many listeners as streams, not a leak.
    setMaxListeners(0, this.drainSignal);
    this.inputLimits = inputLimitsFromConfig(contrib.config, { maxInputPixels: limits.maxInputPixels });
    this.labelCount = contrib.labels.length;
    this.scheduler = new Scheduler(engine, limits, {
      onQueueDepth: (depth) => metrics?.queueDepth.set(depth),
      onInFlight: (runs) => metrics?.inFlight.set(runs),
      onBatch: (size) => metrics?.batchSize.observe(size),
      onSlabs: (allocated, inUse) => {
        metrics?.tensorSlabs.set({ state: 'allocated' }, allocated);
        metrics?.tensorSlabs.set({ state: 'in_use' }, inUse);
      },
    });
    this.serving_ = this.describe(runtime);
  }

  /** The runtime serving new requests (a reload replaces it; requests admitted before finish on theirs). */
  get runtime(): ModelRuntime {
    return this.serving_.runtime;
  }

  /**
   * Serves `next` from now on: new requests run on its engine, metadata and metrics describe it. Resolves with the
   * runtime it replaced once the requests admitted before have finished on that one's engine (close it then).
   */
  async replaceRuntime(next: ModelRuntime): Promise<ModelRuntime> {
    const previous = this.serving_.runtime;
    if (next.contrib.labels.length !== this.labelCount)
      throw new Error(`the new model has ${next.contrib.labels.length} classes, the running one ${this.labelCount}`);
    const retired = this.scheduler.useEngine(next.engine);
    this.serving_ = this.describe(next);
    await retired;
    return previous;
  }

  private describe(runtime: ModelRuntime): Serving {
    const { contrib, engine, weights } = runtime;
    const { limits, instance, version, metrics } = this;
    const runtimeInfo: Runtime = {
      engine: engine.info.engine,
      backend: engine.info.backend,
      threads: engine.info.threads,
      maxConcurrency: limits.maxConcurrency,
      maxQueue: limits.maxQueue,
      weightsSource: weights.source,
      weightsFormat: weights.format,
      weightsSha256: weights.sha256,
      pretrained: weights.pretrained,
      seed: weights.seed ?? 0,
      instance,
      version,
      maxMessageBytes: limits.maxMessageBytes,
      maxInputPixels: limits.maxInputPixels,
      ...precisionFields(runtime),
    };
    // One series: the engine and weights serving now.
    metrics?.engineInfo.reset();
    metrics?.engineInfo.set(
      {
        engine: engine.info.engine,
        backend: engine.info.backend,
        threads: String(engine.info.threads),
        precision: runtime.precision,
        weights_format: weights.format,
        weights_sha256: weights.sha256,
        pretrained: String(weights.pretrained),
      },
      1,
    );
    return {
      runtime,
      metadata: buildMetadata(contrib, runtimeInfo),
      modelRef: { id: contrib.config.id, name: contrib.config.meta.name, weightsSha256: weights.sha256 },
    };
  }

  /** Set by the server: false while the engine's worker is down (failed, not yet replaced, or given up on). */
  engineUp = true;

  get serving(): boolean {
    return this.state === 'serving';
  }

  /** Serving and able to answer now: what readiness probes report. */
  get ready(): boolean {
    return this.serving && this.engineUp;
  }

  metadata(): Metadata {
    return this.serving_.metadata;
  }

  /** The model serving new requests, as answers name it. */
  modelRef(): ModelRef {
    return this.serving_.modelRef;
  }

  /** Refuses new work when not serving; callers retry on another replica. */
  assertServing(): void {
    if (this.state !== 'serving') {
      throw new ServiceError(Code.UNAVAILABLE, 'server is shutting down; retry on another replica');
    }
  }

  async predict(input: PredictInput, context: CallContext = {}): Promise<Prediction> {
    this.assertServing();
    const started = performance.now();
    const image = input.image;
    if (!image)
      throw invalidArgument('request has no input: set `image` (PNG or JPEG bytes) or `raw` (uncompressed pixels)');
    // The runtime the scheduler admits this request to (the same tick: no await in between), whose weights answer it.
    const { runtime, metadata, modelRef } = this.serving_;
    const topK = resolveTopK(input.topK, defaultTop(runtime.contrib), this.labelCount);

    const sort = input.order ? input.order === 'probability' : metadata.sort;
    const labels = runtime.contrib.labels;
    const result = await this.scheduler.submit(
      (tensor) => this.prepare(image, tensor),
      (probabilities) => toLabelList(probabilities, labels, topK, sort),
      context,
    );
    this.metrics?.stageLatency.observe({ stage: 'prepare' }, result.prepareMs / 1000);
    this.metrics?.stageLatency.observe({ stage: 'queue' }, result.queueMs / 1000);
    this.metrics?.stageLatency.observe({ stage: 'inference' }, result.inferenceMs / 1000);
    context.trace?.prediction(input.id, started, result, runtime);

    const prediction = result.value;
    const spec = metadata.outputs[0]!;
    return {
      id: input.id,
      outputs: [{ name: spec.name, type: spec.type, description: spec.description, shape: spec.shape, prediction }],
      processingTime: (performance.now() - started) / 1000,
      timestamp: new Date(),
      model: modelRef,
      timings: { prepareMs: result.prepareMs, queueMs: result.queueMs, inferenceMs: result.inferenceMs },
    };
  }

  private prepare(image: ImageInput, tensor: Float32Array): Promise<PreparedImage> {
    return image.kind === 'encoded'
      ? decodeImage(image.bytes, this.inputLimits, tensor)
      : prepareRawImage(image.raw, this.inputLimits, tensor);
  }

  /**
   * Stops admitting work and waits (up to graceMs) for what was admitted to finish. Resolves true when everything
   * finished in time.
   */
  async drain(graceMs: number): Promise<boolean> {
    if (this.state === 'serving') this.state = 'draining';
    this.drainController.abort();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), graceMs);
    });
    const finished = await Promise.race([this.scheduler.whenIdle().then(() => true as const), timeout]);
    clearTimeout(timer);
    return finished;
  }

  async close(): Promise<void> {
    this.state = 'stopped';
    await this.serving_.runtime.engine.close();
  }
}
