/** The connection flags every client command shares, and the client they configure. */
import { Option, type Command } from 'commander';
import { createModelClient, type ModelClient, type ModelClientOptions } from '../client/index.js';
import { readInputFile } from './files.js';
import { serverAddress, wholeNumber } from './parse.js';

export const DEFAULT_ADDRESS = 'localhost:50051';

export interface ClientFlags {
  readonly address: string;
  readonly tls?: boolean;
  readonly tlsCa?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly tlsServerName?: string;
  readonly token?: string;
  readonly deadline?: number;
  readonly waitForReady?: boolean;
}

export function addClientOptions(command: Command, defaults: { deadlineMs?: number } = {}): Command {
  const deadline = new Option('--deadline <ms>', 'give up on each call after this many milliseconds').argParser(
    wholeNumber(1),
  );
  if (defaults.deadlineMs !== undefined) deadline.default(defaults.deadlineMs);
  return command
    .addOption(
      new Option(
        '--address <host:port>',
        'server address; a comma list of IP:port pairs, or a DNS name with several records, balances over replicas',
      )
        .env('XCEPTION_ADDRESS')
        .default(DEFAULT_ADDRESS)
        .argParser(serverAddress),
    )
    .addOption(new Option('--tls', 'connect over TLS, verifying the server with the system CAs (implied by --tls-ca)'))
    .addOption(new Option('--tls-ca <path>', 'PEM CA bundle to verify the server with'))
    .addOption(new Option('--tls-cert <path>', 'PEM client certificate, for mutual TLS'))
    .addOption(new Option('--tls-key <path>', 'PEM private key of --tls-cert'))
    .addOption(
      new Option('--tls-server-name <name>', "name to check the server's certificate against, if not the address"),
    )
    .addOption(
      new Option('--token <token>', 'bearer token (prefer the env var: flags show in ps)').env('XCEPTION_TOKEN'),
    )
    .addOption(deadline)
    .addOption(
      new Option('--wait-for-ready', 'wait for the server to come up (within --deadline) instead of failing at once'),
    );
}

/** A client from the flags; unreadable TLS files are file errors (exit 3). */
export async function clientFromFlags(flags: ClientFlags): Promise<ModelClient> {
  const useTls = flags.tls || flags.tlsCa || flags.tlsCert || flags.tlsKey || flags.tlsServerName;
  const tls: ModelClientOptions['tls'] = useTls
    ? {
        ca: flags.tlsCa ? await readInputFile(flags.tlsCa) : undefined,
        cert: flags.tlsCert ? await readInputFile(flags.tlsCert) : undefined,
        key: flags.tlsKey ? await readInputFile(flags.tlsKey) : undefined,
        serverName: flags.tlsServerName,
      }
    : undefined;
  return createModelClient(flags.address, {
    tls,
    token: flags.token || undefined,
    deadlineMs: flags.deadline,
    waitForReady: flags.waitForReady,
  });
}

/** Runs `use` with a client from the flags, and closes it. */
export async function withClient<T>(flags: ClientFlags, use: (client: ModelClient) => Promise<T>): Promise<T> {
  const client = await clientFromFlags(flags);
  try {
    return await use(client);
  } finally {
    client.close();
  }
}
