/** --max-connection-age: the server recycles client connections (GOAWAY), and clients reconnect without a failed call. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectivityState } from '@grpc/grpc-js';
import type { Metadata, ModelServiceClient } from '../../../../src/gen/modelhub/v1/model_service.js';
import { unary } from '../../../support/grpc.js';
import { waitFor } from '../../../support/poll.js';
import { modelClient, startTestServer, type TestServer } from '../../../support/server.js';

let server: TestServer;
let client: ModelServiceClient;

beforeAll(async () => {
  server = await startTestServer(['--max-connection-age', '1']);
  client = modelClient(server.address);
});

afterAll(async () => {
  client?.close();
  await server?.shutdown(1000);
});

describe('--max-connection-age', () => {
  it('closes an established connection after the age, and the next call reconnects', async () => {
    await unary<object, Metadata>(client.getMetadata.bind(client), {});
    const channel = client.getChannel();
    expect(channel.getConnectivityState(false)).toBe(connectivityState.READY);
    const states: connectivityState[] = [];
    const watch = (state: connectivityState) =>
      channel.watchConnectivityState(state, Infinity, () => {
        const next = channel.getConnectivityState(false);
        states.push(next);
        if (next === connectivityState.READY) watch(next);
      });
    watch(connectivityState.READY);
    await waitFor(() => states.some((s) => s !== connectivityState.READY), 10_000, 'the connection to be recycled');
    const metadata = await unary<object, Metadata>(client.getMetadata.bind(client), {});
    expect(metadata.name).toBe('xception');
  });
});
