/**
 * The server's HTTP/2 receive window. Node opens every connection and every stream with RFC 7540's 64 KiB, so a
 * client sending one 268 KB raw frame stops four times to wait for the server's WINDOW_UPDATE, each a trip through
 * both event loops. grpc-js raises the window only on clients (`grpc-node.flow_control_window`); its server has no
 * such option yet (grpc/grpc-node#3058), so this sets the same two things that option sets on a client: the stream
 * window every new connection advertises in its SETTINGS, and each connection's own window. Measured with a plain
 * grpc-js echo on loopback: a 268 KB unary call 7.8 → 6.0 ms.
 *
 * It reaches two grpc-js internals (the options its HTTP/2 servers are created with, and those servers). If an
 * upgrade renames them, the server keeps Node's default and says why; test/server/transport/grpc/flow-control.test.ts
 * reads the window from the outside with a plain node:http2 client, so an upgrade that breaks this fails there.
 */
import type { Server } from '@grpc/grpc-js';
import type { Http2Server, Http2Session } from 'node:http2';

/** RFC 7540's initial window: asking for it (or less) leaves Node's settings alone. */
export const DEFAULT_HTTP2_WINDOW = 65_535;

interface GrpcServerInternals {
  commonServerOptions?: { settings?: Record<string, unknown> };
  http2Servers?: Map<Http2Server, unknown>;
}

/**
 * Before bindAsync: every connection the server accepts advertises `bytes` as its streams' initial window.
 * Returns why it could not, or undefined.
 */
export function advertiseStreamWindow(server: Server, bytes: number): string | undefined {
  if (bytes <= DEFAULT_HTTP2_WINDOW) return undefined;
  const internals = server as unknown as GrpcServerInternals;
  if (typeof internals.commonServerOptions !== 'object') return 'this grpc-js has no commonServerOptions';
  internals.commonServerOptions.settings = { ...internals.commonServerOptions.settings, initialWindowSize: bytes };
  return undefined;
}

/**
 * After bindAsync: each new connection's own window goes to `bytes` (a connection starts at 64 KiB whatever its
 * streams' windows, and every stream shares it). Returns why it could not, or undefined.
 */
export function widenConnectionWindows(server: Server, bytes: number): string | undefined {
  if (bytes <= DEFAULT_HTTP2_WINDOW) return undefined;
  const http2Servers = (server as unknown as GrpcServerInternals).http2Servers;
  if (!(http2Servers instanceof Map)) return 'this grpc-js has no http2Servers';
  for (const http2Server of http2Servers.keys()) {
    http2Server.on('session', (session: Http2Session) => session.setLocalWindowSize(bytes));
  }
  return undefined;
}
