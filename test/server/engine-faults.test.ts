/**
 * Engine faults are contained, seen from outside: a real server in this process whose engine is the dying engine (the
 * production onnx engine, supervised, whose worker dies on demand), a real gRPC client, the gRPC health service and the
 * /metrics endpoint. A Predict whose frame kills the worker is answered UNAVAILABLE; health goes NOT_SERVING; the calls
 * queued behind it are answered by a fresh worker; health returns to SERVING. Three deaths within a minute and the
 * server stays NOT_SERVING, answers UNAVAILABLE, and says so in one log line.
 */
import { status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PixelFormat,
  type ModelServiceClient,
  type PredictRequest,
  type PredictResponse,
} from '../../src/gen/modelhub/v1/model_service.js';
import { deathFrame, dyingEngine, type DeathKind, type DyingEngine } from '../support/dying-engine.js';
import { healthClient, settled, unary } from '../support/grpc.js';
import { rgbPixels } from '../support/images.js';
import { metricValue } from '../support/metrics.js';
import { waitFor } from '../support/poll.js';
import { modelClient, startTestServer, type TestServer } from '../support/server.js';

interface LogRecord {
  readonly level: number;
  readonly msg: string;
  readonly error?: string;
}

/** A server on the dying engine: one engine run at a time, its log records kept. */
class DyingServer {
  readonly dying: DyingEngine = dyingEngine();
  readonly log: LogRecord[] = [];
  server!: TestServer;
  client!: ModelServiceClient;
  health!: ReturnType<typeof healthClient>;

  async start(): Promise<void> {
    this.server = await startTestServer(
      ['--log-level', 'info', '--threads', '2', '--max-concurrency', '1', '--metrics-port', '0'],
      { createEngine: this.dying.create, log: (line) => void this.log.push(JSON.parse(line) as LogRecord) },
    );
    this.client = modelClient(this.server.address);
    this.health = healthClient(this.server.address);
  }

  async stop(): Promise<void> {
    this.client?.close();
    this.health?.close();
    this.dying.holdStarts(false);
    this.dying.holdDeaths(false);
    await this.server?.shutdown(500);
  }

  predict(frame: Buffer, id: string): Promise<PredictResponse | ServiceError> {
    const request: PredictRequest = {
      id,
      topK: 5,
      input: { $case: 'raw', value: { width: 299, height: 299, format: PixelFormat.PIXEL_FORMAT_RGB8, data: frame } },
    };
    return settled(this.client.predict.bind(this.client), request);
  }

  /** A Predict whose frame kills the worker; its UNAVAILABLE error. */
  async kill(kind: DeathKind): Promise<ServiceError> {
    const answer = await this.predict(deathFrame(kind), `death-${kind}`);
    expect(answer).toBeInstanceOf(Error);
    expect((answer as ServiceError).code).toBe(status.UNAVAILABLE);
    return answer as ServiceError;
  }

  async healthStatus(): Promise<string> {
    const answer = await unary<object, { status: string }>(this.health.Check.bind(this.health), { service: '' });
    return answer.status;
  }

  metric(name: string): Promise<number> {
    return metricValue(`http://127.0.0.1:${this.server.metricsPort}/metrics`, name);
  }

  logged(message: RegExp): LogRecord[] {
    return this.log.filter((record) => message.test(record.msg));
  }
}

const frames = [11, 12, 13].map((seed) => rgbPixels(299, 299, seed));

/** The answer's labels with probabilities, for comparing answers of the same frame. */
function prediction(answer: PredictResponse | ServiceError): { label: string; probability: number }[] {
  expect(answer).not.toBeInstanceOf(Error);
  return (answer as PredictResponse).outputs[0]!.prediction.map(({ label, probability }) => ({ label, probability }));
}

function expectSameAnswer(actual: PredictResponse | ServiceError, before: PredictResponse | ServiceError): void {
  const got = prediction(actual);
  const wanted = prediction(before);
  expect(got.map((p) => p.label)).toEqual(wanted.map((p) => p.label));
  got.forEach((p, i) => expect(p.probability).toBeCloseTo(wanted[i]!.probability, 6));
}

describe('a worker that dies', () => {
  const s = new DyingServer();
  beforeAll(() => s.start());
  afterAll(() => s.stop());

  it('fails its call UNAVAILABLE, goes NOT_SERVING, and answers the queued calls from a fresh worker', async () => {
    const before = await Promise.all(frames.map((frame, i) => s.predict(frame, `before-${i}`)));
    const seen: string[] = [];
    const watch = s.health.Watch({ service: '' });
    watch.on('data', (answer: { status: string }) => seen.push(answer.status));
    watch.on('error', () => {});
    try {
      await waitFor(() => seen.includes('SERVING'), 10_000, 'SERVING on Watch');
      expect(await s.metric('xception_engine_up')).toBe(1);

      // The run asked to die waits in flight until the other calls are queued behind it; the fresh worker is held
      // before it is ready, so the restart stays in progress until the checks below are done.
      s.dying.holdDeaths(true);
      s.dying.holdStarts(true);
      const death = s.kill('exit');
      await waitFor(async () => (await s.metric('xception_inflight_runs')) === 1, 10_000, 'the fatal run to start');
      let answered = 0;
      const queued = frames.map((frame, i) => s.predict(frame, `queued-${i}`).finally(() => answered++));
      await waitFor(async () => (await s.metric('xception_queue_depth')) === 3, 10_000, 'the calls to queue');
      s.dying.holdDeaths(false);
      const error = await death;
      expect(error.details).toBe('the onnx engine worker died during this run (exited with code 7); retry');

      expect(await s.healthStatus()).toBe('NOT_SERVING');
      await waitFor(() => seen.includes('NOT_SERVING'), 10_000, 'NOT_SERVING on Watch');
      expect(await s.metric('xception_engine_up')).toBe(0);
      expect(await s.metric('xception_engine_faults_total')).toBe(1);
      expect(await s.metric('xception_engine_restarts_total')).toBe(0);
      const [warning] = s.logged(/^engine worker failed/);
      expect(warning).toMatchObject({ level: 40, error: error.details });
      expect(answered).toBe(0);

      s.dying.holdStarts(false);
      const after = await Promise.all(queued);
      after.forEach((answer, i) => expectSameAnswer(answer, before[i]!));
      await waitFor(async () => (await s.healthStatus()) === 'SERVING', 10_000, 'SERVING after the restart');
      await waitFor(() => seen.at(-1) === 'SERVING', 10_000, 'SERVING again on Watch');
      expect(seen.slice(seen.indexOf('NOT_SERVING'))).toEqual(['NOT_SERVING', 'SERVING']);
      expect(await s.metric('xception_engine_up')).toBe(1);
      expect(await s.metric('xception_engine_faults_total')).toBe(1);
      expect(await s.metric('xception_engine_restarts_total')).toBe(1);
      expect(s.logged(/^engine worker restarted/)).toHaveLength(1);
      expect(s.dying.started()).toBe(2);
    } finally {
      watch.cancel();
    }
  });
});

describe('a worker that keeps dying', () => {
  const s = new DyingServer();
  beforeAll(() => s.start());
  afterAll(() => s.stop());

  it('three deaths within a minute: NOT_SERVING for good, later calls UNAVAILABLE, one log line', async () => {
    for (const [i, kind] of (['runtime', 'uncaught'] as const).entries()) {
      expect((await s.kill(kind)).details).toMatch(/^the onnx engine worker (died during|failed) this run .*; retry$/);
      await waitFor(async () => (await s.healthStatus()) === 'SERVING', 20_000, `SERVING after restart ${i + 1}`);
      prediction(await s.predict(frames[0]!, `between-${i}`));
    }
    expect(await s.metric('xception_engine_restarts_total')).toBe(2);

    expect((await s.kill('exit')).details).toMatch(/exited with code 7/);
    expect(await s.healthStatus()).toBe('NOT_SERVING');
    for (const [i, frame] of frames.entries()) {
      const answer = await s.predict(frame, `after-${i}`);
      expect((answer as ServiceError).code).toBe(status.UNAVAILABLE);
      expect((answer as ServiceError).details).toBe(
        'the onnx engine was given up on: its worker failed 3 times within 60 s (last: exited with code 7); ' +
          'this server answers no more predictions: retry on another replica',
      );
    }
    expect(await s.healthStatus()).toBe('NOT_SERVING');
    expect(await s.metric('xception_engine_up')).toBe(0);
    expect(await s.metric('xception_engine_restarts_total')).toBe(2);
    const gaveUp = s.logged(/keeps failing/);
    expect(gaveUp).toHaveLength(1);
    expect(gaveUp[0]).toMatchObject({ level: 50, error: expect.stringMatching(/given up on/) });
    expect(s.dying.started()).toBe(3);
    await waitFor(() => s.dying.liveWorkers() === 0, 10_000, 'no engine worker left running');
  });
});
