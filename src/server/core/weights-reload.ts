/**
 * Weights swapped without downtime: the configured weights are read again, a new engine is built on them beside the
 * running one and warmed up, then the service switches to it at once. Requests admitted before the switch finish on the
 * old engine, which is closed after its last run. Reloads run one at a time and each ends only when the engine it
 * replaced is closed, so there are never more than two engines. A file that fails to load (or fails its shape checks)
 * leaves the old weights serving.
 */
import type { ServerConfig } from '../config.js';
import { Code, ServiceError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { buildModelRuntime, loadWeights, type ModelRuntime, type RuntimeOptions } from './model-runtime.js';
import type { ModelService } from './model-service.js';

/** What asked for the reload, for logs and metrics. */
export type ReloadTrigger = 'signal' | 'admin' | 'watch';

export interface ReloadResult {
  /** False when the file holds the weights already serving: nothing was switched. */
  readonly changed: boolean;
  readonly sha256: string;
  readonly previousSha256: string;
  /** Reading the weights, building and warming the engine, ms. */
  readonly loadMs: number;
}

export interface WeightsReloaderOptions {
  readonly config: ServerConfig;
  readonly service: ModelService;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** How each new engine is built and whom it tells of faults (see RuntimeOptions). */
  readonly runtimeOptions: () => RuntimeOptions;
  /** Told once the new runtime serves, before the old one has finished. */
  readonly onSwitched?: (runtime: ModelRuntime) => void;
}

export class WeightsReloader {
  private running: Promise<ReloadResult> | undefined;
  /** One reload waiting behind the running one; later requests share it. */
  private next: Promise<ReloadResult> | undefined;
  private closed = false;

  constructor(private readonly options: WeightsReloaderOptions) {}

  /**
   * Reloads the weights. While a reload runs, a request waits for one more that starts after it (the file may have
   * changed again since the running one read it); requests arriving meanwhile share that one.
   */
  reload(trigger: ReloadTrigger): Promise<ReloadResult> {
    if (this.running === undefined) return this.start(trigger);
    this.next ??= this.running
      .catch(() => {})
      .then(() => {
        this.next = undefined;
        return this.start(trigger);
      });
    return this.next;
  }

  /** No reload starts from now on; resolves once the one running (if any) has finished. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([this.running, this.next]);
  }

  private start(trigger: ReloadTrigger): Promise<ReloadResult> {
    const running = this.swap(trigger).finally(() => {
      if (this.running === running) this.running = undefined;
    });
    this.running = running;
    return running;
  }

  private async swap(trigger: ReloadTrigger): Promise<ReloadResult> {
    const { config, service, logger, metrics } = this.options;
    if (this.closed) throw new ServiceError(Code.UNAVAILABLE, 'the server is shutting down: weights are not reloaded');
    const current = service.runtime;
    const previousSha256 = current.weights.sha256;
    const started = performance.now();
    logger.info({ trigger, weights: config.weights ?? 'default' }, 'reloading weights');

    let next: ModelRuntime;
    try {
      const weights = await loadWeights(config, current.arch, logger);
      if (weights.loaded.sha256 === previousSha256) {
        metrics.weightReloads.inc({ trigger, result: 'unchanged' });
        logger.info({ trigger, sha256: previousSha256 }, 'weights unchanged: nothing to reload');
        return { changed: false, sha256: previousSha256, previousSha256, loadMs: performance.now() - started };
      }
      next = await buildModelRuntime(config, logger, current, weights, this.options.runtimeOptions());
    } catch (error) {
      metrics.weightReloads.inc({ trigger, result: 'failed' });
      const message = error instanceof Error ? error.message : String(error);
      logger.error(
        { trigger, weights: config.weights ?? 'default', sha256: previousSha256, error: message },
        'weights reload failed: still serving the previous weights',
      );
      // The file is at fault, not the call: the operator fixes it and asks again.
      throw new ServiceError(
        Code.FAILED_PRECONDITION,
        `weights reload failed, still serving ${previousSha256.slice(0, 12)}…: ${message}`,
        { cause: error },
      );
    }
    if (this.closed) {
      await next.engine.close();
      throw new ServiceError(
        Code.UNAVAILABLE,
        'the server began shutting down during the reload: the previous weights stay',
      );
    }

    const loadMs = performance.now() - started;
    const retired = service.replaceRuntime(next);
    this.options.onSwitched?.(next);
    metrics.weightReloads.inc({ trigger, result: 'ok' });
    logger.info(
      { trigger, sha256: next.weights.sha256, previousSha256, loadMs: Math.round(loadMs) },
      'weights reloaded: new requests run on the new weights',
    );
    // The old engine goes once its last admitted request is done, so a next reload never makes a third.
    const old = await retired;
    await old.engine.close();
    logger.info({ sha256: previousSha256 }, 'previous engine closed');
    return { changed: true, sha256: next.weights.sha256, previousSha256, loadMs };
  }
}
