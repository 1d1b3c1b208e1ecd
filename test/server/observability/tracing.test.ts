/**
 * OpenTelemetry tracing, exported to a collector on loopback (test/support/otlp-receiver.ts): a server span per call
 * whose parent is the caller's W3C traceparent, the stages of each prediction under it with their timings inside the
 * call's, the attributes — for gRPC Predict and PredictStream, the Open Inference Protocol's ModelInfer and the REST
 * API; the typed client's propagation of the caller's active context; OpenTelemetry's own environment variables on a
 * server process; and, with no endpoint, no OpenTelemetry SDK loaded at all.
 */
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { context, propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { StackContextManager, TracerProvider } from '@opentelemetry/sdk-trace';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelClient } from '../../../src/client/index.js';
import type { PredictRequest } from '../../../src/gen/modelhub/v1/model_service.js';
import { VERSION } from '../../../src/server/server.js';
import { png } from '../../support/images.js';
import { call as oipCall, oipClient } from '../../support/oip.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../../support/otlp-receiver.js';
import { waitFor } from '../../support/poll.js';
import { modelClient, startTestServer, type TestServer } from '../../support/server.js';
import { startServerProcess } from '../../support/subprocess.js';

const SERVER_KIND = 2;
const INTERNAL_KIND = 1;
const STATUS_ERROR = 2;

let receiver: OtlpReceiver;
let server: TestServer;
let image: Buffer;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  [server, image] = await Promise.all([
    startTestServer(['--threads', '2', '--http-port', '0', '--instance-id', 'traced', '--otlp-endpoint', receiver.url]),
    png(160, 120, 3),
  ]);
}, 120_000);

afterAll(async () => {
  await server?.shutdown(1000);
  await receiver?.close();
});

/** The caller's side of W3C trace context: its trace, its span, and the traceparent header that names them. */
function caller(): { traceId: string; spanId: string; traceparent: string } {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

/** The span `name` of trace `traceId`, once exported. Its children end first, so they have been exported too. */
function exported(traceId: string, name: string): Promise<ReceivedSpan> {
  return waitFor(
    () => receiver.spans.find((span) => span.traceId === traceId && span.name === name),
    10_000,
    `the span ${name} of trace ${traceId}`,
  );
}

function childrenOf(parent: ReceivedSpan): ReceivedSpan[] {
  return receiver.spans.filter((span) => span.traceId === parent.traceId && span.parentSpanId === parent.spanId);
}

/** prepare, queue and inference of one prediction under `parent`: in this order, inside the parent's time. */
function expectStages(parent: ReceivedSpan, stages: readonly ReceivedSpan[], predictionId: string): void {
  expect(stages.map((span) => span.name).sort()).toEqual(['inference', 'prepare', 'queue']);
  const named = (name: string) => stages.find((span) => span.name === name)!;
  const [prepare, queue, inference] = [named('prepare'), named('queue'), named('inference')];
  for (const stage of stages) {
    expect(stage.kind).toBe(INTERNAL_KIND);
    expect(stage.attributes['xception.prediction.id']).toBe(predictionId);
  }
  expect(inference.attributes['xception.batch.size']).toBe(1);
  const times = [
    parent.startNs,
    prepare.startNs,
    prepare.endNs,
    queue.startNs,
    queue.endNs,
    inference.startNs,
    inference.endNs,
    parent.endNs,
  ];
  expect(times).toEqual([...times].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  expect(inference.endNs).toBeGreaterThan(inference.startNs);
}

/** The model attributes a span carries: those of the runtime serving. */
async function modelAttributes(): Promise<Record<string, string>> {
  const metadata = (await server.ready).metadata();
  return {
    'xception.model.id': metadata.id,
    'xception.model.name': metadata.name,
    'xception.engine': metadata.runtime!.engine,
    'xception.precision': metadata.runtime!.precision,
    'xception.weights.sha256': metadata.runtime!.weightsSha256,
  };
}

function predict(request: PredictRequest, metadata: Metadata): Promise<ServiceError | undefined> {
  const client = modelClient(server.address);
  return new Promise((resolve) =>
    client.predict(request, metadata, (error) => {
      client.close();
      resolve(error ?? undefined);
    }),
  );
}

describe('gRPC calls', () => {
  it("Predict: a server span under the caller's span, with the call's attributes and its three stages", async () => {
    const { traceId, spanId, traceparent } = caller();
    const metadata = new Metadata();
    metadata.set('traceparent', traceparent);
    metadata.set('tracestate', 'vendor=opaque');
    expect(await predict({ id: 'traced-predict', topK: 3, input: { $case: 'image', value: image } }, metadata)).toBe(
      undefined,
    );

    const span = await exported(traceId, 'modelhub.v1.ModelService/Predict');
    expect(span).toMatchObject({ kind: SERVER_KIND, parentSpanId: spanId, traceState: 'vendor=opaque' });
    expect(span.status.code).not.toBe(STATUS_ERROR);
    expect(span.attributes).toEqual({
      'rpc.system.name': 'grpc',
      'rpc.method': 'modelhub.v1.ModelService/Predict',
      'rpc.status_code': 'OK',
      'xception.request.id': 'traced-predict',
      ...(await modelAttributes()),
    });
    expect(span.resource).toMatchObject({
      'service.name': 'xception',
      'service.version': VERSION,
      'service.instance.id': 'traced',
    });
    expectStages(span, childrenOf(span), 'traced-predict');
  });

  it('a refused Predict (INVALID_ARGUMENT): an error span with the code and the message, and no stages', async () => {
    const { traceId, spanId, traceparent } = caller();
    const metadata = new Metadata();
    metadata.set('traceparent', traceparent);
    const request: PredictRequest = {
      id: 'not-an-image',
      topK: 1,
      input: { $case: 'image', value: Buffer.from([1, 2, 3]) },
    };
    const error = await predict(request, metadata);
    expect(error?.code).toBe(3);

    const span = await exported(traceId, 'modelhub.v1.ModelService/Predict');
    expect(span.parentSpanId).toBe(spanId);
    expect(span.status).toEqual({ code: STATUS_ERROR, message: error!.details });
    expect(span.attributes).toMatchObject({
      'rpc.status_code': 'INVALID_ARGUMENT',
      'error.type': 'INVALID_ARGUMENT',
      'xception.request.id': 'not-an-image',
      ...(await modelAttributes()),
    });
    expect(childrenOf(span)).toEqual([]);
  });

  it("the Open Inference Protocol's ModelInfer: a span for the call, the stages of each element under it", async () => {
    const { traceId, spanId, traceparent } = caller();
    const metadata = new Metadata();
    metadata.set('traceparent', traceparent);
    const oip = oipClient(server.address);
    await oipCall(
      oip,
      'ModelInfer',
      {
        model_name: 'xception',
        id: 'oip-traced',
        inputs: [{ name: 'image', datatype: 'BYTES', shape: [2], contents: { bytes_contents: [image, image] } }],
      },
      metadata,
    );
    oip.close();

    const span = await exported(traceId, 'inference.GRPCInferenceService/ModelInfer');
    expect(span).toMatchObject({ kind: SERVER_KIND, parentSpanId: spanId });
    expect(span.attributes).toMatchObject({ 'rpc.status_code': 'OK', 'xception.request.id': 'oip-traced' });
    const stages = childrenOf(span);
    for (const element of ['0', '1']) {
      expectStages(
        span,
        stages.filter((stage) => stage.attributes['xception.prediction.id'] === element),
        element,
      );
    }
  });
});

describe('the REST API', () => {
  const post = (bytes: Uint8Array, headers: Record<string, string>) => {
    const form = new FormData();
    form.append('file', new Blob([bytes]), 'image.png');
    return fetch(`http://127.0.0.1:${server.httpPort}/api/predict`, { method: 'POST', body: form, headers });
  };

  it("POST /api/predict: a server span under the caller's span, with the route, the status and the stages", async () => {
    const { traceId, spanId, traceparent } = caller();
    const response = await post(image, { traceparent, 'x-request-id': 'rest-traced' });
    expect(response.status).toBe(200);
    await response.arrayBuffer();

    const span = await exported(traceId, 'POST /api/predict');
    expect(span).toMatchObject({ kind: SERVER_KIND, parentSpanId: spanId });
    expect(span.attributes).toEqual({
      'http.request.method': 'POST',
      'http.route': '/api/predict',
      'http.response.status_code': 200,
      'xception.request.id': 'rest-traced',
      ...(await modelAttributes()),
    });
    expectStages(span, childrenOf(span), 'rest-traced');
  });

  it('a refused upload: an error span with the HTTP status answered', async () => {
    const { traceId, traceparent } = caller();
    const response = await post(new Uint8Array([1, 2, 3]), { traceparent });
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: string };

    const span = await exported(traceId, 'POST /api/predict');
    expect(span.status).toEqual({ code: STATUS_ERROR, message: error });
    expect(span.attributes).toMatchObject({ 'http.response.status_code': 400, 'error.type': 'INVALID_ARGUMENT' });
  });
});

describe('the typed client', () => {
  // The caller's process, traced: a tracer of its own, W3C propagation, and a context manager. The client takes the
  // active context as a call starts (synchronously), so the stack-based manager is enough here.
  const callerTracer = new TracerProvider().getTracer('caller');
  beforeAll(() => {
    context.setGlobalContextManager(new StackContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  });
  afterAll(() => {
    context.disable();
    propagation.disable();
  });

  it("sends the active span's context: the server's Predict span is its child", async () => {
    const client = createModelClient(server.address);
    const span = callerTracer.startSpan('checkout');
    const prediction = await context.with(trace.setSpan(context.active(), span), () =>
      client.predict(image, { id: 'client-traced' }),
    );
    span.end();
    const { traceId, spanId } = span.spanContext();

    const serverSpan = await exported(traceId, 'modelhub.v1.ModelService/Predict');
    expect(serverSpan.parentSpanId).toBe(spanId);
    expect(serverSpan.attributes['xception.request.id']).toBe(prediction.id);
    expectStages(serverSpan, childrenOf(serverSpan), 'client-traced');

    // Outside any span the call starts a trace of its own on the server.
    await client.predict(image, { id: 'client-untraced' });
    const root = await waitFor(() =>
      receiver.spans.find((s) => s.attributes['xception.request.id'] === 'client-untraced'),
    );
    expect(root.parentSpanId).toBe('');
    expect(root.traceId).not.toBe(traceId);
    client.close();
  });

  it('a PredictStream: one span for the stream, a frame span per frame with its stages', async () => {
    const client = createModelClient(server.address);
    const span = callerTracer.startSpan('camera');
    const frames = [
      { id: 'frame-a', image },
      { id: 'frame-b', image },
    ];
    const results = context.with(trace.setSpan(context.active(), span), () => client.predictStream(frames));
    const ids: string[] = [];
    for await (const result of results) ids.push(result.id);
    span.end();
    client.close();
    expect(ids).toEqual(['frame-a', 'frame-b']);

    const { traceId, spanId } = span.spanContext();
    const stream = await exported(traceId, 'modelhub.v1.ModelService/PredictStream');
    expect(stream).toMatchObject({ kind: SERVER_KIND, parentSpanId: spanId });
    expect(stream.attributes).toMatchObject({ 'rpc.status_code': 'OK', ...(await modelAttributes()) });
    const frameSpans = childrenOf(stream);
    expect(frameSpans.map((frame) => frame.attributes['xception.prediction.id']).sort()).toEqual([
      'frame-a',
      'frame-b',
    ]);
    for (const frame of frameSpans) {
      expect(frame).toMatchObject({ name: 'frame', kind: INTERNAL_KIND });
      expect(frame.startNs).toBeGreaterThanOrEqual(stream.startNs);
      expect(frame.endNs).toBeLessThanOrEqual(stream.endNs);
      expectStages(frame, childrenOf(frame), String(frame.attributes['xception.prediction.id']));
    }
  });
});

describe('turning it on and off', () => {
  it("a server process exports where OpenTelemetry's variables say, as OTEL_SERVICE_NAME names it", async () => {
    const proc = await startServerProcess(['--threads', '1'], {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_SERVICE_NAME: 'xception-canary',
    });
    try {
      const client = modelClient(proc.address);
      const { traceId, traceparent } = caller();
      const metadata = new Metadata();
      metadata.set('traceparent', traceparent);
      const request: PredictRequest = { id: 'process-traced', topK: 1, input: { $case: 'image', value: image } };
      await new Promise((resolve) => client.predict(request, metadata, resolve));
      client.close();
      const span = await exported(traceId, 'modelhub.v1.ModelService/Predict');
      expect(span.resource['service.name']).toBe('xception-canary');
    } finally {
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
    }
  }, 120_000);

  it('without an endpoint no OpenTelemetry SDK is loaded (and with one it is)', () => {
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    const loaded = (tracesUrl: string) => {
      // A fresh node: the whole server (dist), then tracing started as the server starts it.
      const script = `
        const { startTracing } = await import(${JSON.stringify(`${root}dist/server/observability/tracing.js`)});
        await import(${JSON.stringify(`${root}dist/server/server.js`)});
        const tracing = await startTracing({ tracesUrl: process.argv[1] || undefined, serviceVersion: '0', instanceId: 'x' });
        const { createRequire } = await import('node:module');
        const modules = Object.keys(createRequire(${JSON.stringify(`${root}package.json`)}).cache);
        console.log(JSON.stringify({ on: tracing !== undefined, modules }));
        await tracing?.shutdown();`;
      const output = execFileSync(process.execPath, ['--input-type=module', '-e', script, tracesUrl], {
        encoding: 'utf8',
      });
      const { on, modules } = JSON.parse(output) as { on: boolean; modules: string[] };
      const packages = new Set(
        modules.flatMap((path) => /node_modules\/(@opentelemetry\/[^/]+)\//.exec(path)?.[1] ?? []),
      );
      return { on, packages };
    };

    const off = loaded('');
    expect(off.on).toBe(false);
    // The API alone may be there (prom-client uses it for exemplars): it is not an SDK and exports nothing.
    expect([...off.packages].filter((name) => name !== '@opentelemetry/api')).toEqual([]);

    const on = loaded(`${receiver.url}/v1/traces`);
    expect(on.on).toBe(true);
    expect(on.packages).toContain('@opentelemetry/sdk-trace');
    expect(on.packages).toContain('@opentelemetry/exporter-trace-otlp-http');
  });
});
