/**
 * Starting the server as a person does, from `npm start` (dist/server/main.js) or `xception serve`: one behaviour for
 * bad flags; a start-up failure in one human line on a terminal (a real pseudo-terminal, from util-linux's `script`),
 * JSON logs without one. Run `npm run build` first (npm test does).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { closeServer, listenOnLoopback } from '../support/ports.js';
import { CLEAN_ENV, CLI_MAIN, runCommand, SERVER_MAIN, type CommandRun } from '../support/subprocess.js';

const CLI = CLI_MAIN;

/** Runs `node script args` with pipes (no terminal) to completion. */
function piped(script: string, args: string[], env: Record<string, string> = {}): Promise<CommandRun> {
  return runCommand(process.execPath, [script, ...args], { env });
}

const quote = (word: string) => `'${word.replaceAll("'", "'\\''")}'`;

/**
 * Runs `node script args` on a pseudo-terminal (stdout and stderr both) and returns what the terminal showed, with
 * the terminal's line endings made plain. `until`: stop the program once the screen shows it.
 */
function onTerminal(script: string, args: string[], until?: RegExp): Promise<{ code: number | null; screen: string }> {
  const child = spawn('script', ['-qefc', [process.execPath, script, ...args].map(quote).join(' '), '/dev/null'], {
    env: CLEAN_ENV,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let screen = '';
  child.stdout.on('data', (chunk) => {
    screen += chunk;
    if (until?.test(screen)) child.kill('SIGTERM');
  });
  return new Promise((resolve) =>
    child.once('exit', (code) => resolve({ code, screen: screen.replaceAll('\r\n', '\n') })),
  );
}

/** The status line shown while starting, and erased. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the ANSI "erase line" sequence is what is matched.
const TRANSIENT = /xception: starting…\r\x1b\[2K/g;

let busy: Server;
let busyPort: number;

beforeAll(async () => {
  busy = createServer();
  busyPort = await listenOnLoopback(busy);
});

afterAll(() => closeServer(busy));

describe('npm start and xception serve', () => {
  it('fail alike on a bad flag or variable: one line and the usage exit code, 2', async () => {
    for (const [args, env, line] of [
      [['--bogus'], {}, "xception: unknown option '--bogus'"],
      [
        ['--port', 'http'],
        {},
        `xception: option '--port <port>' argument 'http' is invalid. expected a whole number from 0 to 65535, got "http"`,
      ],
      [[], { XCEPTION_PORT: 'http' }, 'xception: XCEPTION_PORT: expected a whole number from 0 to 65535, got "http"'],
    ] as const) {
      const server = await piped(SERVER_MAIN, [...args], env);
      const serve = await piped(CLI, ['serve', ...args], env);
      expect(server, args.join(' ')).toEqual(serve);
      expect(server.code).toBe(2);
      expect(server.stderr.split('\n')[0]).toBe(line);
    }
  });
});

describe('a start-up failure on a terminal', () => {
  it('is one human line, exit 1, with no "listening" and no JSON: missing weights', async () => {
    for (const script of [SERVER_MAIN, CLI]) {
      const args = script === CLI ? ['serve'] : [];
      const run = await onTerminal(script, [...args, '--host', '127.0.0.1', '--port', '0', '--weights', '/missing.h5']);
      expect(run.code).toBe(1);
      expect(run.screen.replace(TRANSIENT, '')).toBe(
        'xception: cannot start: weights file /missing.h5 does not exist\n',
      );
    }
  });

  it('names the port in use', async () => {
    const run = await onTerminal(SERVER_MAIN, ['--host', '127.0.0.1', '--port', String(busyPort)]);
    expect(run.code).toBe(1);
    expect(run.screen.replace(TRANSIENT, '')).toBe(
      `xception: cannot start: 127.0.0.1:${busyPort} is already in use (another process listens there; choose another port)\n`,
    );
  });

  it('shows human log lines, not JSON, once the model is up', async () => {
    const run = await onTerminal(
      SERVER_MAIN,
      ['--host', '127.0.0.1', '--port', '0', '--threads', '1'],
      /INFO {2}serving/,
    );
    const lines = run.screen.replace(TRANSIENT, '').split('\n').filter(Boolean);
    expect(lines[0]).toMatch(
      /^\d\d:\d\d:\d\d INFO {2}xception gRPC listening on 127\.0\.0\.1:\d+ \(loading model\) {2}host=127\.0\.0\.1 {2}port=\d+/,
    );
    expect(lines.some((line) => /^\d\d:\d\d:\d\d WARN {2}NOT PRETRAINED/.test(line))).toBe(true);
    expect(lines.some((line) => /^\d\d:\d\d:\d\d INFO {2}serving {2}port=\d+/.test(line))).toBe(true);
    expect(lines.filter((line) => line.startsWith('{'))).toEqual([]);
  });
});

describe('a start-up failure without a terminal', () => {
  it('stays a JSON log line (level 60), and grpc-js adds nothing raw to stderr', async () => {
    const run = await piped(SERVER_MAIN, ['--host', '127.0.0.1', '--port', String(busyPort)]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('');
    const logs = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { level: number; msg: string });
    expect(logs.filter((entry) => entry.level >= 50)).toEqual([
      expect.objectContaining({
        level: 60,
        msg: `cannot start: 127.0.0.1:${busyPort} is already in use (another process listens there; choose another port)`,
      }),
    ]);
  });
});
