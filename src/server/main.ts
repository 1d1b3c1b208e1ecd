#!/usr/bin/env node
/** `node dist/server/main.js [flags]` (npm start): the server alone, without the CLI's other commands. */
import { CommanderError } from 'commander';
import { serve } from './run.js';

serve().catch((error: unknown) => {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  console.error(error);
  process.exit(1);
});
