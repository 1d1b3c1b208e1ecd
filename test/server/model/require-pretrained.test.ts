/**
 * `--require-pretrained` as a user runs it: the server (`node dist/server/main.js`) and `xception serve`, each its own
 * process, with no weights anywhere. It must refuse to start: exit code 1 and one clear line saying what to do, never
 * a server on random weights. Run `npm run build` first (npm test does).
 */
import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVER_MAIN } from '../../support/subprocess.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'dist/cli/main.js');

interface Exit {
  readonly code: number | null;
  /** Parsed JSON log lines. */
  readonly logs: Record<string, any>[];
  readonly stderr: string;
}

/**
 * Runs `node script ...args` until it exits. A process that starts serving instead is stopped (SIGTERM), so a server
 * that ignores the flag fails the assertions rather than hanging the test. XCEPTION_* variables of the test's own
 * environment are left out.
 */
function runUntilExit(script: string, args: string[], env: Record<string, string> = {}): Promise<Exit> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('XCEPTION_')));
  const child = spawn(process.execPath, [script, ...args, '--host', '127.0.0.1', '--port', '0'], {
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, any>[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const stdoutClosed = new Promise<void>((resolve) => {
    createInterface({ input: child.stdout })
      .on('line', (line) => {
        const entry = JSON.parse(line) as Record<string, any>;
        logs.push(entry);
        if (entry.msg === 'serving') child.kill('SIGTERM');
      })
      .on('close', resolve);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return Promise.all([exited, stdoutClosed]).then(([code]) => ({ code, logs, stderr }));
}

let contribDir: string;
let weightsPath: string;

beforeAll(async () => {
  // The bundled contributor folder without model/model.h5, whatever a developer has fetched into theirs.
  contribDir = join(await mkdtemp(join(tmpdir(), 'xception-require-pretrained-')), 'contrib_src');
  await cp(join(ROOT, 'contrib_src'), contribDir, {
    recursive: true,
    filter: (source) => !/model\.h5(\.partial)?$/.test(source),
  });
  weightsPath = join(contribDir, 'model', 'model.h5');
});
afterAll(async () => {
  if (contribDir) await rm(join(contribDir, '..'), { recursive: true, force: true });
});

function expectRefusal(run: Exit): void {
  expect(run.code).toBe(1);
  expect(run.stderr).toBe('');
  expect(run.logs.map((entry) => entry.msg)).not.toContain('serving');
  expect(run.logs.filter((entry) => /NOT PRETRAINED/.test(entry.msg))).toEqual([]);
  // One line at error level or above: the reason, and what to do about it.
  const failures = run.logs.filter((entry) => entry.level >= 50);
  expect(failures).toHaveLength(1);
  expect(failures[0]).toMatchObject({ level: 60 });
  const message = failures[0]!.msg as string;
  expect(message).toMatch(/^cannot start: pretrained weights are required but none were found at /);
  expect(message).toContain(weightsPath);
  expect(message).toContain('xception fetch-weights');
  expect(message).toContain('--weights PATH');
}

describe('--require-pretrained without weights', () => {
  it('stops the server (dist/server/main.js) with exit code 1 and one clear message', async () => {
    expectRefusal(await runUntilExit(SERVER_MAIN, ['--require-pretrained', '--contrib-dir', contribDir]));
  });

  it('does the same when set by XCEPTION_REQUIRE_PRETRAINED', async () => {
    expectRefusal(await runUntilExit(SERVER_MAIN, ['--contrib-dir', contribDir], { XCEPTION_REQUIRE_PRETRAINED: '1' }));
  });

  it('stops `xception serve` with exit code 1 and one clear message', async () => {
    expectRefusal(await runUntilExit(CLI, ['serve', '--require-pretrained', '--contrib-dir', contribDir]));
  });
});
