/**
 * The server's lifecycle: listen at once (health NOT_SERVING), load and warm up the model, then SERVING; on shutdown
 * NOT_SERVING first, refuse new calls, let admitted work finish within the grace period (what is left then is answered
 * UNAVAILABLE), then close.
 */
import { readFileSync } from 'node:fs';
import type { ServerConfig } from './config.js';
import { ModelService } from './core/model-service.js';
import type { TransportContext } from './core/transport-context.js';
import { loadModelRuntime, type RuntimeOptions } from './core/model-runtime.js';
import type { EngineFactory } from './engine/create-engine.js';
import { EngineHealth } from './core/engine-health.js';
import { WeightsReloader, type ReloadResult, type ReloadTrigger } from './core/weights-reload.js';
import { watchWeights, type WeightsWatcher } from './core/weights-watch.js';
import { Code, ServiceError } from './errors.js';
import type { Logger } from './observability/logger.js';
import { Metrics, serveMetrics } from './observability/metrics.js';
import { startTracing } from './observability/tracing.js';
import { describeSecurity, loadSecurity, securityWarnings } from './security/security.js';
import { startGrpcServer, type GrpcServer } from './transport/grpc/server.js';
import { startHttpServer } from './transport/http/server.js';

export const VERSION: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;

/** After the drain, how long finished calls get to write their answers before the server closes. */
const FLUSH_MS = 1000;

export interface RunningServer {
  /** The bound gRPC port. */
  readonly port: number;
  /** The bound metrics port, when enabled. */
  readonly metricsPort?: number;
  /** The bound HTTP port (ModelHub REST API and web page), when --http-port is set. */
  readonly httpPort?: number;
  readonly grpc: GrpcServer;
  readonly metrics: Metrics;
  /** Resolves once the model is loaded and health says SERVING; rejects if loading fails. */
  readonly ready: Promise<ModelService>;
  /** Graceful shutdown; resolves true if all admitted work finished within the grace period. */
  shutdown(graceMs?: number): Promise<boolean>;
  /** Loads the weights again and switches to them without downtime (core/weights-reload.ts). */
  reloadWeights(trigger: ReloadTrigger): Promise<ReloadResult>;
}

export interface ServerOptions {
  /** Builds the engine; default: the configured one (tests pass an engine that dies on demand). */
  readonly createEngine?: EngineFactory;
}

export async function startServer(
  config: ServerConfig,
  logger: Logger,
  options: ServerOptions = {},
): Promise<RunningServer> {
  // Certificates and tokens are checked before anything listens: a wrong setting stops start-up (SecurityConfigError).
  const security = loadSecurity(config);
  const metrics = new Metrics();
  const tracing = await startTracing({
    tracesUrl: config.otlpTracesUrl,
    serviceVersion: VERSION,
    instanceId: config.instanceId,
  });
  if (tracing) logger.info({ tracesUrl: config.otlpTracesUrl }, `traces exported over OTLP to ${config.otlpTracesUrl}`);
  let service: ModelService | undefined;
  const context: TransportContext = {
    service: () => service,
    logger,
    metrics,
    instance: config.instanceId,
    tracing,
    reloadWeights: (trigger) => reloadWeights(trigger),
  };
  const grpc = await startGrpcServer(context, {
    host: config.host,
    port: config.port,
    maxMessageBytes: config.maxMessageBytes,
    http2WindowBytes: config.http2WindowBytes,
    security,
    maxConnectionAgeMs: config.maxConnectionAgeSeconds * 1000,
  });
  logger.info(
    { host: config.host, port: grpc.port, ...describeSecurity(security) },
    `xception gRPC listening on ${config.host}:${grpc.port} (loading model)`,
  );
  for (const warning of securityWarnings(security, config.host)) logger.warn(warning);
  const metricsServer =
    config.metricsPort === undefined ? undefined : await serveMetrics(metrics, config.metricsHost, config.metricsPort);
  if (metricsServer)
    logger.info({ port: metricsServer.port }, `metrics on http://${config.metricsHost}:${metricsServer.port}/metrics`);

  // ModelHub's REST API and the web page, on their own port: the same service, security and limits.
  const http =
    config.httpPort === undefined
      ? undefined
      : await startHttpServer(context, {
          host: config.host,
          port: config.httpPort,
          maxMessageBytes: config.maxMessageBytes,
          fetchAllowHosts: config.fetchAllowHosts,
          requestTimeoutMs: config.httpRequestTimeoutMs,
          security,
        });
  if (http)
    logger.info(
      { port: http.port },
      `ModelHub REST API and web page on ${security.tls ? 'https' : 'http'}://${config.host}:${http.port}/`,
    );

  let shuttingDown: Promise<boolean> | undefined;
  // SERVING only with the model loaded, its engine worker up, and no shutdown begun.
  const updateHealth = (): void => {
    if (service) service.engineUp = engineHealth.up;
    grpc.setHealth(service !== undefined && engineHealth.up && !shuttingDown ? 'SERVING' : 'NOT_SERVING');
  };
  const engineHealth = new EngineHealth(logger, metrics, updateHealth);
  const runtimeOptions = (): RuntimeOptions & { id: number } => {
    const { id, events } = engineHealth.forNewEngine();
    return { id, createEngine: options.createEngine, health: events };
  };
  let reloader: WeightsReloader | undefined;
  let watcher: WeightsWatcher | undefined;

  const initial = runtimeOptions();
  const ready = loadModelRuntime(config, logger, initial).then(async (runtime) => {
    if (shuttingDown) {
      // Shut down while the model was loading: release it rather than serve from a closed server.
      await runtime.engine.close();
      throw new Error('server shut down before the model finished loading');
    }
    service = new ModelService(runtime, config, config.instanceId, VERSION, metrics);
    engineHealth.serve(initial.id);
    let next = initial;
    reloader = new WeightsReloader({
      config,
      service,
      logger,
      metrics,
      runtimeOptions: () => (next = runtimeOptions()),
      onSwitched: () => engineHealth.serve(next.id),
    });
    if (config.watchWeights) watcher = watchWeights(config, reloader, logger);
    logger.info({ port: grpc.port, engine: runtime.engine.info, pretrained: runtime.weights.pretrained }, 'serving');
    return service;
  });

  const reloadWeights = async (trigger: ReloadTrigger): Promise<ReloadResult> => {
    if (!reloader) throw new ServiceError(Code.UNAVAILABLE, 'the model is still loading: nothing to reload yet');
    return reloader.reload(trigger);
  };

  const shutdown = (graceMs = config.gracePeriodSeconds * 1000): Promise<boolean> => {
    shuttingDown ??= (async () => {
      grpc.setHealth('NOT_SERVING');
      watcher?.close();
      const reloadsDone = reloader?.close();
      const deadline = Date.now() + graceMs;
      // GOAWAY at once: clients stop sending new calls here (grpc-js retries them on another replica) while the calls
      // already running go on.
      const closed = new Promise<void>((resolve) => grpc.server.tryShutdown(() => resolve()));
      // HTTP likewise stops accepting now (requests arriving on kept-alive connections get 503); running ones go on.
      const httpClosed = http?.close();
      const finished = service ? await service.drain(graceMs) : true;
      // Work still admitted when the grace period ends gets an answer, UNAVAILABLE (clients retry it on another
      // replica), rather than a cut connection that tells them nothing.
      if (!finished) {
        service?.scheduler.abandon(
          new ServiceError(
            Code.UNAVAILABLE,
            'server shut down: its grace period ended before this request finished; retry on another replica',
          ),
        );
      }
      // Admitted work is done: give answers a moment to be written, then close. Long-lived calls that never end by
      // themselves (health Watch streams of orchestrators) are cut at that point rather than holding the exit.
      let timer: NodeJS.Timeout | undefined;
      const flushMs = finished ? Math.min(FLUSH_MS, Math.max(0, deadline - Date.now())) : FLUSH_MS;
      await Promise.race([
        Promise.all([closed, httpClosed]),
        new Promise((resolve) => {
          timer = setTimeout(resolve, flushMs);
        }),
      ]);
      clearTimeout(timer);
      grpc.server.forceShutdown();
      http?.forceClose();
      await httpClosed;
      await metricsServer?.close();
      await tracing?.shutdown();
      await reloadsDone;
      await service?.close();
      logger.info({ finished }, 'shut down');
      return finished;
    })();
    return shuttingDown;
  };

  return {
    port: grpc.port,
    metricsPort: metricsServer?.port,
    httpPort: http?.port,
    grpc,
    metrics,
    ready,
    shutdown,
    reloadWeights,
  };
}
