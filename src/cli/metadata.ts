/** `xception metadata`: what the server runs — model, labels, engine, weights, limits. */
import { Command } from 'commander';
import { addClientOptions, withClient, type ClientFlags } from './client-options.js';
import { metadataSummary } from './format.js';

export function metadataCommand(): Command {
  return addClientOptions(new Command('metadata'))
    .description('describe the model and the server (GetMetadata)')
    .option('--json', 'print the whole Metadata message as JSON (labels, config.json, licenses, runtime)')
    .action(async (flags: ClientFlags & { json?: boolean }) => {
      const metadata = await withClient(flags, (client) => client.getMetadata());
      process.stdout.write(`${flags.json ? JSON.stringify(metadata, null, 2) : metadataSummary(metadata)}\n`);
    });
}
