/** The server as its own process (`node dist/server/main.js`), for signals, exit codes and its memory (RSS). */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

export const SERVER_MAIN = fileURLToPath(new URL('../../dist/server/main.js', import.meta.url));
export const CLI_MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** The test's environment without its own XCEPTION_* variables. */
export const CLEAN_ENV = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !key.startsWith('XCEPTION_')),
);

export interface CommandRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `file args` to completion with pipes (no terminal), in CLEAN_ENV plus `env`. */
export function runCommand(
  file: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<CommandRun> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...CLEAN_ENV, ...options.env }, cwd: options.cwd }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly address: string;
  /** Parsed JSON log lines so far. */
  readonly logs: Record<string, any>[];
  /** Resident memory in bytes, from /proc. */
  rss(): number;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
}

export async function startServerProcess(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, [SERVER_MAIN, '--host', '127.0.0.1', '--port', '0', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, any>[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line);
        logs.push(entry);
        if (entry.msg === 'serving') resolve(entry.port);
      } catch {
        // not a log line
      }
    });
    exited.then((code) => reject(new Error(`server exited with ${code} before serving: ${stderr}`)));
  });
  return {
    child,
    port,
    address: `127.0.0.1:${port}`,
    logs,
    exited,
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) * 1024,
  };
}
