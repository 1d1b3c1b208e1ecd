/** Loopback ports for tests: servers of their own on an ephemeral port, and a port nothing listens on. */
import { createServer, type AddressInfo, type Server } from 'node:net';

/** Starts `server` listening on 127.0.0.1 at an ephemeral port; resolves with the port. */
export async function listenOnLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Stops `server` listening; resolves once it has closed. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A port nothing listens on (bound, then released), for connections that must be refused. */
export async function unusedPort(): Promise<number> {
  const probe = createServer();
  const port = await listenOnLoopback(probe);
  await closeServer(probe);
  return port;
}
