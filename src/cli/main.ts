#!/usr/bin/env node
/** `xception <command>`: the server package's command line (serve, fetch-weights and the client commands). */
import { buildProgram } from './program.js';
import { runCli } from './run-cli.js';

await runCli(buildProgram());
