/**
 * Backpressure, measured on the server as its own process: a client that writes 500 large frames as fast as it can
 * and never reads must not make the server buffer them. The server reads frames only as fast as it answers them, so
 * its memory (RSS) stays flat while the frames pile up on the client's side.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { credentials } from '@grpc/grpc-js';
import { ModelServiceClient, PixelFormat, type PredictResponse } from '../../src/gen/modelhub/v1/model_service.js';
import { rgbPixels } from '../support/images.js';
import { waitFor } from '../support/server.js';
import { startServerProcess, type ServerProcess } from '../support/subprocess.js';

let proc: ServerProcess | undefined;
afterAll(async () => {
  proc?.child.kill('SIGTERM');
  await proc?.exited;
});

describe('PredictStream backpressure', () => {
  it('keeps the server\'s memory bounded while a client writes 500 frames without reading', async () => {
    proc = await startServerProcess();
    const client = new ModelServiceClient(proc.address, credentials.createInsecure());
    const [width, height] = [640, 480];
    const data = rgbPixels(width, height); // 900 KiB a frame: 500 of them would be 440 MiB if buffered
    const rssBefore = proc.rss();
    let rssPeak = rssBefore;
    const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, proc!.rss()); }, 50);
    try {
      const call = client.predictStream();
      call.on('error', () => {}); // the cancel at the end is ours
      call.pause(); // never read, for now
      for (let i = 0; i < 500; i++) {
        call.write({ id: `bp-${i}`, topK: 5, input: { $case: 'raw', value: { width, height, format: PixelFormat.PIXEL_FORMAT_RGB8, data } } });
      }
      // The client has handed over all 500 frames; let the server work for a while on them.
      const started = Date.now();
      await waitFor(() => Date.now() - started > 4000, 10_000, 'time');
      rssPeak = Math.max(rssPeak, proc.rss());
      expect(rssPeak - rssBefore).toBeLessThan(150 * 1024 * 1024);

      // Now read: the answers come in order, and the stream is still healthy.
      const received: PredictResponse[] = [];
      call.on('data', (r: PredictResponse) => received.push(r));
      call.resume();
      await waitFor(() => received.length >= 40, 60_000, '40 answers');
      expect(received.slice(0, 40).map((r) => r.id)).toEqual(Array.from({ length: 40 }, (_, i) => `bp-${i}`));
      expect(received.every((r) => !r.error)).toBe(true);
      call.cancel();
    } finally {
      clearInterval(sampler);
      client.close();
    }
    // The server is still serving after the client gave up.
    const again = new ModelServiceClient(proc.address, credentials.createInsecure());
    try {
      const response = await new Promise<PredictResponse>((resolve, reject) => again.predict(
        { id: 'after', topK: 1, input: { $case: 'raw', value: { width: 64, height: 64, format: PixelFormat.PIXEL_FORMAT_RGB8, data: rgbPixels(64, 64) } } },
        (e, r) => (e ? reject(e) : resolve(r))));
      expect(response.outputs[0]!.prediction).toHaveLength(1);
    } finally {
      again.close();
    }
  }, 120_000);
});
