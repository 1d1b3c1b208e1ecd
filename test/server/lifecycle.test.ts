/** The server as a process: graceful drain on SIGTERM under load, one log line per call, and /metrics. */
import { afterEach, describe, expect, it } from 'vitest';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { ModelServiceClient, PixelFormat, type PredictResponse } from '../../src/gen/modelhub/v1/model_service.js';
import { rgbPixels } from '../support/images.js';
import { waitFor } from '../support/server.js';
import { startServerProcess, type ServerProcess } from '../support/subprocess.js';

let proc: ServerProcess | undefined;
afterEach(() => {
  proc?.child.kill('SIGKILL');
  proc = undefined;
});

const request = (id: string) => ({
  id, topK: 1, input: { $case: 'raw' as const, value: { width: 299, height: 299, format: PixelFormat.PIXEL_FORMAT_RGB8, data: rgbPixels(299, 299) } },
});

describe('server process', () => {
  it('on SIGTERM finishes every accepted request, refuses new ones, and exits 0', async () => {
    proc = await startServerProcess(['--max-queue', '64', '--grace-period', '30']);
    const client = new ModelServiceClient(proc.address, credentials.createInsecure());
    try {
      const results: ({ ok: PredictResponse } | { error: ServiceError })[] = [];
      const calls = Array.from({ length: 10 }, (_, i) => new Promise<void>((resolve) => {
        client.predict(request(`drain-${i}`), (error, response) => {
          results.push(error ? { error } : { ok: response });
          resolve();
        });
      }));
      // SIGTERM once the server has admitted all ten.
      await waitFor(() => proc!.logs.length > 0 && fetchQueued(proc!), 20_000, 'requests admitted');
      proc.child.kill('SIGTERM');
      await Promise.all(calls);
      expect(results.filter((r) => 'error' in r)).toEqual([]);
      expect(results).toHaveLength(10);
      // A call after the drain started is refused (or finds the port closed): never silently lost.
      const late = await new Promise<ServiceError | undefined>((resolve) =>
        client.predict(request('late'), { deadline: Date.now() + 5000 }, (error) => resolve(error ?? undefined)));
      expect([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]).toContain(late?.code);
      expect(await proc.exited).toBe(0);
      const callLines = proc.logs.filter((l) => l.msg === 'call' && l.method === 'Predict' && l.code === 'OK');
      expect(callLines).toHaveLength(10);
      expect(callLines[0]).toMatchObject({ requestId: expect.stringMatching(/^drain-/), latencyMs: expect.any(Number),
        prepareMs: expect.any(Number), queueMs: expect.any(Number), inferenceMs: expect.any(Number) });
    } finally {
      client.close();
    }
  }, 120_000);

  it('exposes Prometheus metrics on --metrics-port', async () => {
    proc = await startServerProcess(['--metrics-port', '0']);
    const metricsPort = proc.logs.find((l) => l.msg?.startsWith('metrics on'))!.port;
    const client = new ModelServiceClient(proc.address, credentials.createInsecure());
    try {
      await new Promise((resolve, reject) => client.predict(request('m'), (e, r) => (e ? reject(e) : resolve(r))));
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
    } finally {
      client.close();
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
    }
  }, 60_000);
});

/** True once the server log shows the burst is in: at least one call finished or the queue filled. */
function fetchQueued(p: ServerProcess): boolean {
  return p.logs.some((l) => l.msg === 'call');
}
