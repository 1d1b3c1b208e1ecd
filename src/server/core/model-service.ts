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
}

export interface StageTimings {
  readonly prepareMs: number;
  readonly queueMs: number;
  readonly inferenceMs: number;
}

export interface Prediction {
  readonly id: string;
  readonly outputs: Output[];
  /** Seconds, as ModelHub's processing_time. */
  readonly processingTime: number;
  readonly timestamp: Date;
  readonly model: { readonly id: string; readonly name: string };
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

export class ModelService {
  private state: ServiceState = 'serving';
  private readonly drainController = new AbortController();
  /** Aborted when draining starts: long-lived calls (streams) stop taking new work. */
  readonly drainSignal: AbortSignal = this.drainController.signal;
  readonly scheduler: Scheduler;
  readonly inputLimits: InputLimits;
  private readonly metadataMessage: Metadata;
  private readonly modelRef: { id: string; name: string };
  private readonly labelCount: number;

  constructor(
    readonly runtime: ModelRuntime,
    readonly limits: ServiceLimits,
    readonly instance: string,
    version: string,
    private readonly metrics?: Metrics,
  ) {
    const { contrib, engine, weights } = runtime;
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
    this.metadataMessage = buildMetadata(contrib, runtimeInfo);
    this.modelRef = { id: contrib.config.id, name: contrib.config.meta.name };
    metrics?.engineInfo.set(
      {
        engine: engine.info.engine,
        backend: engine.info.backend,
        threads: String(engine.info.threads),
        precision: runtime.precision,
        weights_format: weights.format,
        pretrained: String(weights.pretrained),
      },
      1,
    );
  }

  get serving(): boolean {
    return this.state === 'serving';
  }

  metadata(): Metadata {
    return this.metadataMessage;
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
    const topK = resolveTopK(input.topK, defaultTop(this.runtime.contrib), this.labelCount);

    const sort = input.order ? input.order === 'probability' : this.metadataMessage.sort;
    const labels = this.runtime.contrib.labels;
    const result = await this.scheduler.submit(
      (tensor) => this.prepare(image, tensor),
      (probabilities) => toLabelList(probabilities, labels, topK, sort),
      context,
    );
    this.metrics?.stageLatency.observe({ stage: 'prepare' }, result.prepareMs / 1000);
    this.metrics?.stageLatency.observe({ stage: 'queue' }, result.queueMs / 1000);
    this.metrics?.stageLatency.observe({ stage: 'inference' }, result.inferenceMs / 1000);

    const prediction = result.value;
    const spec = this.metadataMessage.outputs[0]!;
    return {
      id: input.id,
      outputs: [{ name: spec.name, type: spec.type, description: spec.description, shape: spec.shape, prediction }],
      processingTime: (performance.now() - started) / 1000,
      timestamp: new Date(),
      model: this.modelRef,
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
    await this.runtime.engine.close();
  }
}
