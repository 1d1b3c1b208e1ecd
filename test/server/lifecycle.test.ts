/**
 * The server as a process: the drain on SIGTERM and SIGINT (admitted work finishes, streams end after their last
 * answer, new work is refused), the end of the grace period, one log line per call, and /metrics.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { credentials, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { ModelServiceClient, type PredictResponse } from '../../src/gen/modelhub/v1/model_service.js';
import { DRAIN_ERROR_MESSAGE } from '../../src/server/core/frame-stream.js';
import { smallRawRequest } from '../support/images.js';
import { admittedRequests, scrape } from '../support/metrics.js';
import { waitFor } from '../support/poll.js';
import { startServerProcess, type ServerProcess } from '../support/subprocess.js';

let proc: ServerProcess | undefined;
let client: ModelServiceClient | undefined;
afterEach(() => {
  client?.close();
  client = undefined;
  proc?.child.kill('SIGKILL');
  proc = undefined;
});

const UNARY_CALLS = 6;
const STREAM_FRAMES = 3;
const GRACE_ENDED = 'server shut down: its grace period ended before this request finished; retry on another replica';

const request = smallRawRequest;

type Outcome = { id: string; ok: PredictResponse } | { id: string; error: ServiceError };

function predict(c: ModelServiceClient, id: string): Promise<Outcome> {
  return new Promise((resolve) => {
    c.predict(request(id), (error, response) => resolve(error ? { id, error } : { id, ok: response }));
  });
}

/** A PredictStream that records its answers and, when it ends, how many answers had arrived before its status. */
function openStream(c: ModelServiceClient) {
  const call = c.predictStream();
  const answers: PredictResponse[] = [];
  call.on('data', (answer: PredictResponse) => answers.push(answer));
  call.on('error', () => {}); // the status below carries it
  const ended = new Promise<{ status: StatusObject; answersBefore: number }>((resolve) => {
    call.on('status', (s: StatusObject) => resolve({ status: s, answersBefore: answers.length }));
  });
  return { send: (id: string) => call.write(request(id)), answers, ended };
}

/**
 * A server process with metrics, loaded with UNARY_CALLS Predict calls and then a stream of STREAM_FRAMES frames,
 * all admitted (queued, running or done).
 */
async function loadedServer(flags: string[]) {
  proc = await startServerProcess(['--metrics-port', '0', '--max-concurrency', '1', ...flags]);
  const metricsUrl = `http://127.0.0.1:${proc.logs.find((l) => l.msg?.startsWith('metrics on'))!.port}/metrics`;
  const c = (client = new ModelServiceClient(proc.address, credentials.createInsecure()));
  const unary = Array.from({ length: UNARY_CALLS }, (_, i) => predict(c, `call-${i}`));
  await waitFor(async () => (await admittedRequests(metricsUrl)).total === UNARY_CALLS, 30_000, 'the calls admitted');
  const stream = openStream(c);
  for (let i = 0; i < STREAM_FRAMES; i++) stream.send(`frame-${i}`);
  const admitted = await waitFor(
    async () => {
      const now = await admittedRequests(metricsUrl);
      return now.total === UNARY_CALLS + STREAM_FRAMES ? now : undefined;
    },
    30_000,
    'the frames admitted',
  );
  return { proc, client: c, metricsUrl, unary, stream, admitted };
}

const callLines = (p: ServerProcess, method: string) => p.logs.filter((l) => l.msg === 'call' && l.method === method);

describe('server process', () => {
  describe.each(['SIGTERM', 'SIGINT'] as const)('on %s', (signal) => {
    it('answers every admitted call and frame, ends the stream UNAVAILABLE after its last answer, refuses new work UNAVAILABLE, and exits 0', async () => {
      const { proc, client, unary, stream, admitted } = await loadedServer([
        '--max-queue',
        '64',
        '--grace-period',
        '30',
      ]);
      // Work was still queued just before the drain (nine inferences take far longer than their admission did).
      expect(admitted.queued).toBeGreaterThan(0);
      proc.child.kill(signal);
      await waitFor(() => proc.logs.some((l) => l.msg === 'draining' && l.signal === signal), 10_000, 'the drain');

      // New work after the drain began is refused, calls and streams alike.
      const late = await predict(client, 'late');
      expect('error' in late && late.error.code).toBe(status.UNAVAILABLE);
      const lateStream = openStream(client);
      lateStream.send('late-frame');
      expect((await lateStream.ended).status.code).toBe(status.UNAVAILABLE);
      expect(lateStream.answers).toEqual([]);

      const results = await Promise.all(unary);
      expect(results.map((r) => ('ok' in r ? r.ok.id : `${r.id}: ${r.error.code} ${r.error.details}`))).toEqual(
        Array.from({ length: UNARY_CALLS }, (_, i) => `call-${i}`),
      );
      expect(await proc.exited).toBe(0);
      expect(proc.logs.find((l) => l.msg === 'shut down')).toMatchObject({ finished: true });
      const predictLines = callLines(proc, 'Predict').filter((l) => l.requestId !== 'late');
      expect(predictLines.map((l) => [l.requestId, l.code]).sort()).toEqual(
        Array.from({ length: UNARY_CALLS }, (_, i) => [`call-${i}`, 'OK']),
      );
      expect(predictLines[0]).toMatchObject({
        latencyMs: expect.any(Number),
        prepareMs: expect.any(Number),
        queueMs: expect.any(Number),
        inferenceMs: expect.any(Number),
      });

      // The stream, its client sending nothing more: every frame it sent answered, then UNAVAILABLE.
      const { status: streamStatus, answersBefore } = await stream.ended;
      expect(stream.answers.map((a) => [a.id, a.error])).toEqual(
        Array.from({ length: STREAM_FRAMES }, (_, i) => [`frame-${i}`, undefined]),
      );
      expect(streamStatus).toMatchObject({ code: status.UNAVAILABLE, details: DRAIN_ERROR_MESSAGE });
      expect(answersBefore).toBe(STREAM_FRAMES);
      expect(callLines(proc, 'PredictStream').find((l) => l.frames === STREAM_FRAMES)).toMatchObject({
        code: 'UNAVAILABLE',
        error: DRAIN_ERROR_MESSAGE,
      });
    }, 120_000);
  });

  it('when --grace-period runs out, answers the work still queued or running UNAVAILABLE, then exits 1', async () => {
    const { proc, metricsUrl, unary, stream, admitted } = await loadedServer([
      '--max-queue',
      '64',
      '--grace-period',
      '0',
    ]);
    // Signal just after a run starts, so it is still running when the grace period (0 s) ends: the requests finished
    // by then are exactly the runs started before it, and all the rest are abandoned, the running one included.
    const atSignal = await waitFor(
      async () => {
        const value = await scrape(metricsUrl);
        return value('xception_batch_size_count') > admitted.runs ? value : undefined;
      },
      30_000,
      'a run starting',
    );
    proc.child.kill('SIGTERM');
    const finished = atSignal('xception_batch_size_count') - atSignal('xception_inflight_runs');
    expect(atSignal('xception_inflight_runs')).toBe(1);

    // As many answered as had finished, every other one UNAVAILABLE; none cut off or left unanswered. (Which ones
    // finished is not fixed: the queue runs the earliest request whose image is ready.)
    const results = await Promise.all(unary);
    const { status: streamStatus } = await stream.ended;
    const calls = results.map((r) => ('ok' in r ? [r.id, 'OK'] : [r.id, r.error.code, r.error.details]));
    const frames = stream.answers.map((a) => (a.error ? [a.id, a.error.code, a.error.message] : [a.id, 'OK']));
    const answered = [...calls, ...frames].filter(([, code]) => code === 'OK').map(([id]) => id);
    const expected = (id: string) => (answered.includes(id) ? [id, 'OK'] : [id, status.UNAVAILABLE, GRACE_ENDED]);
    expect(answered).toHaveLength(finished);
    expect(calls).toEqual(Array.from({ length: UNARY_CALLS }, (_, i) => expected(`call-${i}`)));
    expect(await proc.exited).toBe(1);
    expect(proc.logs.find((l) => l.msg === 'shut down')).toMatchObject({ finished: false });
    // The log says what each caller got.
    expect(
      callLines(proc, 'Predict')
        .map((l) => [l.requestId, l.code])
        .sort(),
    ).toEqual(calls.map(([id, code]) => [id, code === 'OK' ? 'OK' : 'UNAVAILABLE']));

    expect(frames).toEqual(Array.from({ length: STREAM_FRAMES }, (_, i) => expected(`frame-${i}`)));
    expect(streamStatus).toMatchObject({ code: status.UNAVAILABLE, details: DRAIN_ERROR_MESSAGE });
  }, 120_000);

  it('exposes Prometheus metrics on --metrics-port', async () => {
    proc = await startServerProcess(['--metrics-port', '0']);
    const metricsPort = proc.logs.find((l) => l.msg?.startsWith('metrics on'))!.port;
    const c = (client = new ModelServiceClient(proc.address, credentials.createInsecure()));
    const answer = await predict(c, 'm');
    expect('ok' in answer).toBe(true);
    const body = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(body).toMatch(/xception_calls_total\{method="Predict",code="OK"\} 1/);
    expect(body).toMatch(/xception_stage_duration_seconds_bucket\{le="[^"]+",stage="inference"\}/);
    expect(body).toMatch(/xception_queue_depth 0/);
    expect(body).toMatch(/xception_inflight_runs 0/);
    expect(body).toMatch(/xception_stream_frames_total/);
    expect(body).toMatch(/xception_stream_dropped_frames_total 0/);
    expect(body).toMatch(/xception_engine_info\{engine="onnx",[^}]*pretrained="false"\} 1/);
    expect(body).toMatch(/xception_process_resident_memory_bytes \d+/);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status).toBe(404);
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  }, 60_000);
});
