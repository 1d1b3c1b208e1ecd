#!/usr/bin/env node
/** `xception-client <command>`: the client package's command line (predict, stream, metadata, health). */
import { buildClientProgram } from './client-program.js';
import { runCli } from './run-cli.js';

await runCli(buildClientProgram());
