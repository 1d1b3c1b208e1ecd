/**
 * --http2-window-bytes, read from the outside by a plain node:http2 client (not grpc-js): the stream window the
 * server advertises in its SETTINGS, and the connection window it grants with its first WINDOW_UPDATE. A grpc-js
 * upgrade that renames the internals flow-control.ts sets would leave both at 64 KiB and fail here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type ClientHttp2Session, type Settings } from 'node:http2';
import { once } from 'node:events';
import { DEFAULT_HTTP2_WINDOW } from '../../../../src/server/transport/grpc/flow-control.js';
import { waitFor } from '../../../support/poll.js';
import { startTestServer, type TestServer } from '../../../support/server.js';

const MiB = 1024 * 1024;

/** Connects, and resolves the server's SETTINGS with the session (to read its connection window from). */
async function peek(server: TestServer): Promise<{ session: ClientHttp2Session; settings: Settings }> {
  const session = connect(`http://${server.address}`);
  const [settings] = (await once(session, 'remoteSettings')) as [Settings];
  return { session, settings };
}

describe('the server HTTP/2 receive window', () => {
  let byDefault: TestServer;
  let nodeDefault: TestServer;

  beforeAll(async () => {
    // The window is set up when the port is bound, before the engine: no need to wait for the model.
    [byDefault, nodeDefault] = await Promise.all([
      startTestServer([], { waitReady: false }),
      startTestServer(['--http2-window-bytes', String(DEFAULT_HTTP2_WINDOW)], { waitReady: false }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([byDefault?.shutdown(1000), nodeDefault?.shutdown(1000)]);
  });

  it('is 1 MiB per stream and per connection by default', async () => {
    const { session, settings } = await peek(byDefault);
    try {
      expect(settings.initialWindowSize).toBe(MiB);
      const granted = await waitFor(
        () => session.state.remoteWindowSize === MiB && session.state.remoteWindowSize,
        5000,
        'the server to widen the connection window',
      );
      expect(granted).toBe(MiB);
    } finally {
      session.close();
    }
  });

  it("keeps Node's 64 KiB when asked for it", async () => {
    const { session, settings } = await peek(nodeDefault);
    try {
      expect(settings.initialWindowSize).toBe(DEFAULT_HTTP2_WINDOW);
      expect(session.state.remoteWindowSize).toBe(DEFAULT_HTTP2_WINDOW);
    } finally {
      session.close();
    }
  });
});
