/** Prometheus metrics (prom-client), one registry per server so several servers can share a process (tests). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  readonly registry = new Registry();
  readonly calls = new Counter({
    name: 'xception_calls_total',
    help: 'Finished calls by method and gRPC status code name',
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
  });
  readonly callLatency = new Histogram({
    name: 'xception_call_duration_seconds',
    help: 'Whole-call latency by method',
    labelNames: ['method'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly stageLatency = new Histogram({
    name: 'xception_stage_duration_seconds',
    help: 'Per-request latency by stage: prepare (decode+resize), queue, inference',
    labelNames: ['stage'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'xception_queue_depth',
    help: 'Requests admitted and waiting for an engine slot',
    registers: [this.registry],
  });
  readonly inFlight = new Gauge({
    name: 'xception_inflight_runs',
    help: 'Engine runs in progress',
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'xception_batch_size',
    help: 'Requests per engine run',
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers: [this.registry],
  });
  readonly activeStreams = new Gauge({
    name: 'xception_active_streams',
    help: 'Open PredictStream calls',
    registers: [this.registry],
  });
  readonly streamFrames = new Counter({
    name: 'xception_stream_frames_total',
    help: 'PredictStream frames answered, by outcome (ok, error, dropped)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly streamFramesInFlight = new Gauge({
    name: 'xception_stream_frames_in_flight',
    help: 'PredictStream frames read and not yet answered, over all open streams (a stream is not read past its limit)',
    registers: [this.registry],
  });
  readonly streamFramesWorking = new Gauge({
    name: 'xception_stream_frames_working',
    help: 'PredictStream frames being prepared, queued or run by the engine, over all open streams',
    registers: [this.registry],
  });
  readonly droppedFrames = new Counter({
    name: 'xception_stream_dropped_frames_total',
    help: 'Frames skipped by the "latest" live-video policy',
    registers: [this.registry],
  });
  readonly tensorSlabs = new Gauge({
    name: 'xception_tensor_slabs',
    help: 'Input/output tensor slabs shared with the engine, by state (allocated, in_use); allocated stays flat once warm',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  readonly engineInfo = new Gauge({
    name: 'xception_engine_info',
    help: 'The engine and weights serving new requests (value 1); precision is fp32 or int8',
    labelNames: [
      'engine',
      'backend',
      'threads',
      'precision',
      'weights_format',
      'weights_sha256',
      'pretrained',
    ] as const,
    registers: [this.registry],
  });
  readonly engineUp = new Gauge({
    name: 'xception_engine_up',
    help: 'Whether the engine worker is up (1) or failed and not (yet) replaced (0)',
    registers: [this.registry],
  });
  readonly engineFaults = new Counter({
    name: 'xception_engine_faults_total',
    help: 'Engine worker failures (died, or failed a run); each fails the calls of its run with UNAVAILABLE',
    registers: [this.registry],
  });
  readonly engineRestarts = new Counter({
    name: 'xception_engine_restarts_total',
    help: 'Fresh engine workers started after a failure, from the weights in memory',
    registers: [this.registry],
  });
  readonly weightReloads = new Counter({
    name: 'xception_weight_reloads_total',
    help: 'Weights reloads by trigger (signal, admin, watch) and result (ok, unchanged, failed: the old weights still serve)',
    labelNames: ['trigger', 'result'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'xception_' });
    // Every trigger and result from the start, so rate() and increase() see the first reload (and alerts can name them).
    for (const trigger of ['signal', 'admin', 'watch'])
      for (const result of ['ok', 'unchanged', 'failed']) this.weightReloads.inc({ trigger, result }, 0);
  }
}

/** Serves GET /metrics on its own port, apart from gRPC, for Prometheus to scrape. */
export async function serveMetrics(
  metrics: Metrics,
  host: string,
  port: number,
): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try GET /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
      (body) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
      (error: Error) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${error.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
