#!/usr/bin/env node
/** `node dist/server/main.js [flags]` (npm start): `xception serve` — the same flags, errors and exit codes. */
import { serve } from './run.js';

await serve();
