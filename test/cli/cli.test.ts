/**
 * The `xception` CLI end to end, as a user runs it: `node dist/cli/main.js …` in subprocesses, against one server that
 * the CLI's own `serve` command started. Run `npm run build` first (npm test does).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { png } from '../support/images.js';
import { closeServer, listenOnLoopback } from '../support/ports.js';
import { CLI_MAIN, runCommand, type CommandRun } from '../support/subprocess.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = CLI_MAIN;
/** The client package's bin (xception-client): the client commands alone. */
const CLIENT_CLI = join(ROOT, 'dist/cli/client-main.js');

type Run = CommandRun;

/** Runs a command to completion in the test's folder. */
function inTestDir(file: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return runCommand(file, args, { env, cwd: dir });
}

/** Runs the CLI to completion. */
function xception(args: string[], env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<Run> {
  return inTestDir(process.execPath, [...nodeArgs, CLI, ...args], env);
}

let dir: string;
let server: ChildProcess;
let address: string;
let image: string;

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error('dist/ is missing: run `npm run build` first');
  dir = await mkdtemp(join(tmpdir(), 'xception-cli-'));
  image = join(dir, 'picture.png');
  await writeFile(image, await png(160, 120, 7));
  await mkdir(join(dir, 'frames'));
  for (let i = 0; i < 5; i++) await writeFile(join(dir, 'frames', `frame-${i}.png`), await png(80, 60, i + 1));
  await writeFile(join(dir, 'frames', 'notes.txt'), 'not an image: skipped');
  await writeFile(join(dir, 'broken.png'), (await png(80, 60)).subarray(0, 60));

  server = spawn(
    process.execPath,
    [CLI, 'serve', '--host', '127.0.0.1', '--port', '0', '--instance-id', 'cli-test', '--threads', '2'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: server.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; port?: number };
      if (entry.msg === 'serving') resolve(entry.port!);
    });
    server.once('exit', (code) => reject(new Error(`xception serve exited with ${code} before serving`)));
  });
  address = `127.0.0.1:${port}`;
});

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('xception predict', () => {
  it('prints a top-k table per image, under a note that the weights are not pretrained', async () => {
    const run = await xception(['predict', image, '--address', address, '--top-k', '3']);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const [note, blank, ...lines] = run.stdout.trim().split('\n');
    expect(note).toBe(
      "note: the server's weights are NOT pretrained (seeded random, seed 0): these classes are meaningless",
    );
    expect(blank).toBe('');
    expect(lines[0]).toMatch(new RegExp(`^${image}  \\(instance cli-test, \\d+ ms\\)$`));
    expect(lines[1]).toMatch(/^ {3}# {2}class +probability {2}index$/);
    expect(lines.slice(2)).toHaveLength(3);
    for (const [i, row] of lines.slice(2).entries())
      expect(row).toMatch(new RegExp(`^ +${i + 1}  .+ +\\d+\\.\\d\\d% +#\\d+$`));
  });

  it('expands a folder to its image files, by name, as stream does', async () => {
    const run = await xception(['predict', join(dir, 'frames'), '--json', '--top-k', '1', '--address', address]);
    expect(run.code).toBe(0);
    const results = JSON.parse(run.stdout) as { file: string }[];
    expect(results.map((r) => r.file)).toEqual([0, 1, 2, 3, 4].map((i) => join(dir, 'frames', `frame-${i}.png`)));
  });

  it('prints JSON with --json: one entry per file, in order', async () => {
    const run = await xception(['predict', image, image, '--json', '--top-k', '2'], { XCEPTION_ADDRESS: address });
    expect(run.code).toBe(0);
    const results = JSON.parse(run.stdout) as Record<string, any>[];
    expect(results).toHaveLength(2);
    for (const result of results) {
      expect(result).toEqual({
        file: image,
        id: expect.any(String),
        labels: [
          { label: expect.any(String), probability: expect.any(Number), index: expect.any(Number) },
          { label: expect.any(String), probability: expect.any(Number), index: expect.any(Number) },
        ],
        processingTime: expect.any(Number),
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        model: { id: expect.any(String), name: 'xception', weightsSha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
        instance: 'cli-test',
      });
    }
  });

  it('stops before calling when a file is missing: exit 3 and one line', async () => {
    const run = await xception(['predict', image, 'cat.jpg', '--address', address]);
    expect(run.code).toBe(3);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe('xception: predict: cat.jpg: no such file\n');
  });

  it('reports an image the server refuses in one line, exit 1; with --json as an error entry', async () => {
    const run = await xception(['predict', join(dir, 'broken.png'), '--address', address]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^xception: predict: .*broken\.png: INVALID_ARGUMENT: [^\n]+\n$/);
    const json = await xception(['predict', join(dir, 'broken.png'), image, '--address', address, '--json']);
    expect(json.code).toBe(1);
    const [broken, fine] = JSON.parse(json.stdout) as Record<string, any>[];
    expect(broken).toEqual({
      file: join(dir, 'broken.png'),
      error: { code: 3, codeName: 'INVALID_ARGUMENT', message: expect.any(String) },
    });
    expect(fine!.labels).toHaveLength(5); // the model's default top 5
  });

  it('says "connection refused" in one line, exit 1, when no server answers', async () => {
    const run = await xception(['predict', image, '--address', '127.0.0.1:1']);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`xception: predict: ${image}: UNAVAILABLE: connection refused at 127.0.0.1:1\n`);
  });
});

describe('xception metadata', () => {
  it('prints a summary, or the whole message with --json', async () => {
    const summary = await xception(['metadata', '--address', address]);
    expect(summary.code).toBe(0);
    expect(summary.stdout).toMatch(/^model +xception \(/);
    expect(summary.stdout).toMatch(/^pretrained +NO — random weights/m);
    expect(summary.stdout).toMatch(/^weights +seeded random \(seed 0\), sha256 [0-9a-f]{16}…$/m);
    expect(summary.stdout).toMatch(/^limits +messages up to 16 MiB, images up to 40,000,000 pixels$/m);
    expect(summary.stdout).toMatch(/^instance +cli-test, version \d/m);
    const json = await xception(['metadata', '--json', '--address', address]);
    expect(json.code).toBe(0);
    const metadata = JSON.parse(json.stdout);
    expect(metadata).toMatchObject({
      name: 'xception',
      top: 5,
      runtime: { instance: 'cli-test', pretrained: false, seed: 0 },
    });
    expect(metadata.labels).toHaveLength(1000);
    expect(JSON.parse(metadata.configJson).meta.name).toBe('xception');
  });
});

describe('xception health', () => {
  it('prints SERVING and exits 0; exits 1 in one line when nothing answers', async () => {
    const ok = await xception(['health', '--address', address]);
    expect(ok).toEqual({ code: 0, stdout: 'SERVING\n', stderr: '' });
    const down = await xception(['health', '--address', '127.0.0.1:1', '--deadline', '2000']);
    expect(down).toEqual({
      code: 1,
      stdout: '',
      stderr: 'xception: health: UNAVAILABLE: connection refused at 127.0.0.1:1\n',
    });
  });
});

describe('xception stream', () => {
  it("streams a folder's images as frames: one line each, in order, and the frames/s", async () => {
    const run = await xception(['stream', join(dir, 'frames'), '--address', address, '--max-in-flight', '2']);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(6);
    for (let i = 0; i < 5; i++) {
      expect(lines[i]).toMatch(
        new RegExp(`^\\[${i}\\] .*frame-${i}\\.png  .+ \\d+\\.\\d\\d%  \\(\\d+ ms, cli-test\\)$`),
      );
    }
    expect(lines[5]).toMatch(/^5 frames in \d+\.\d\d s: \d+\.\d\d frames\/s \(5 ok, 0 failed, 0 dropped\)$/);
  });

  it('prints JSON lines with --json, the summary on stderr; a bad frame fails the run (exit 1) but not the stream', async () => {
    const run = await xception([
      'stream',
      join(dir, 'broken.png'),
      image,
      '--json',
      '--repeat',
      '2',
      '--top-k',
      '2',
      '--address',
      address,
    ]);
    expect(run.code).toBe(1);
    const results = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(results.map((r) => r.id)).toEqual(['0', '1', '2', '3']);
    expect(results.map((r) => r.error?.codeName)).toEqual([
      'INVALID_ARGUMENT',
      undefined,
      'INVALID_ARGUMENT',
      undefined,
    ]);
    expect(results[1].labels).toHaveLength(2);
    expect(run.stderr).toMatch(/^4 frames in .* \(2 ok, 2 failed, 0 dropped\)\n$/);
  });

  it('stops quietly, exit 0, when its reader goes away (`stream --json | head -n 1`)', async () => {
    const pipeline = `set -o pipefail; "${process.execPath}" "${CLI}" stream "${join(dir, 'frames')}" --json --repeat 40 --address ${address} | head -n 1`;
    const run = await inTestDir('bash', ['-c', pipeline]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(run.stdout)).toMatchObject({ id: '0', file: join(dir, 'frames', 'frame-0.png') });
  });

  it('exits 3 for a missing path', async () => {
    const run = await xception(['stream', join(dir, 'nowhere'), '--address', address]);
    expect(run.code).toBe(3);
    expect(run.stderr).toBe(`xception: stream: ${join(dir, 'nowhere')}: no such file\n`);
  });
});

describe('usage', () => {
  it('exits 2 with one line for an unknown option, a bad value, or a missing argument', async () => {
    for (const args of [
      ['predict', image, '--bogus'],
      ['predict', image, '--top-k', 'many'],
      ['predict'],
      ['stream', 'x', '--policy', 'newest'],
      ['frobnicate'],
    ]) {
      const run = await xception(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr.split('\n')[0]).toMatch(/^xception: /);
    }
  });

  it('refuses an address that is not host:port (exit 2) rather than dialling port 443 or a host named "http"', async () => {
    for (const [bad, hint] of [
      ['127.0.0.1', 'e.g. 127.0.0.1:50051'],
      ['http://127.0.0.1:50199', 'without "http://"'],
      ['10.0.0.1:1,10.0.0.2', 'got "10.0.0.2"'],
    ]) {
      for (const run of [
        await xception(['health', '--address', bad!]),
        await xception(['health'], { XCEPTION_ADDRESS: bad! }),
      ]) {
        expect(run.code, bad).toBe(2);
        expect(run.stderr.split('\n')[0], bad).toMatch(
          /^xception: option '--address <host:port>' .*is invalid\. address must be host:port/,
        );
        expect(run.stderr, bad).toContain(hint);
      }
    }
  });

  it('has --help on every command, listing the server flags for serve', async () => {
    for (const command of ['predict', 'stream', 'metadata', 'health', 'fetch-weights']) {
      const run = await xception([command, '--help']);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`^Usage: xception ${command} `));
      expect(run.stdout).toContain('Exit codes:');
    }
    const serve = await xception(['serve', '--help']);
    expect(serve.stdout).toContain('--max-batch <n>');
    expect(serve.stdout).toContain('env XCEPTION_MAX_BATCH');
    const bad = await xception(['serve', '--port', 'http']);
    expect(bad.code).toBe(2);
  });

  it('runs client commands without loading the server or its dependencies', async () => {
    const { log, register } = await recordModules('modules');
    const run = await xception(['health', '--address', address], {}, ['--import', register]);
    expect(run.stdout).toBe('SERVING\n');
    const modules = (await readFile(log, 'utf8')).split('\n').filter(Boolean);
    expect(modules.some((m) => m.includes('/dist/client/'))).toBe(true);
    expect(
      modules.filter((m) =>
        /node_modules\/(onnxruntime|sharp|h5wasm|@tensorflow)|\/dist\/server\/(server|run|engine|core)/.test(m),
      ),
    ).toEqual([]);
  });
});

describe("xception-client (the client package's bin)", () => {
  it('has the client commands, not serve or fetch-weights, under its own name', async () => {
    const help = await inTestDir(process.execPath, [CLIENT_CLI, '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: xception-client /);
    for (const command of ['predict', 'stream', 'metadata', 'health'])
      expect(help.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    expect(help.stdout).not.toMatch(/\bserve\b|fetch-weights/);
    const serve = await inTestDir(process.execPath, [CLIENT_CLI, 'serve']);
    expect(serve.code).toBe(2);
    expect(serve.stderr.split('\n')[0]).toBe("xception-client: unknown command 'serve'");
    const down = await inTestDir(process.execPath, [CLIENT_CLI, 'health', '--address', '127.0.0.1:1']);
    expect(down).toEqual({
      code: 1,
      stdout: '',
      stderr: 'xception-client: health: UNAVAILABLE: connection refused at 127.0.0.1:1\n',
    });
  });

  it('loads no server module at all', async () => {
    const { log, register } = await recordModules('client-modules');
    const run = await inTestDir(process.execPath, [
      '--import',
      register,
      CLIENT_CLI,
      'predict',
      image,
      '--address',
      address,
    ]);
    expect(run.code).toBe(0);
    const modules = (await readFile(log, 'utf8')).split('\n').filter(Boolean);
    expect(modules.some((m) => m.includes('/dist/cli/predict.js'))).toBe(true);
    expect(
      modules.filter((m) =>
        /\/dist\/server\/|node_modules\/(onnxruntime|sharp|h5wasm|@tensorflow|fastify|pino|zod)/.test(m),
      ),
    ).toEqual([]);
  });
});

describe('xception fetch-weights', () => {
  let http: Server;
  let url: string;
  const body = Buffer.from('not really HDF5, but 40 bytes of weights');
  const md5 = createHash('md5').update(body).digest('hex');

  beforeAll(async () => {
    http = createServer((_request, response) => response.writeHead(200, { 'content-length': body.length }).end(body));
    url = `http://127.0.0.1:${await listenOnLoopback(http)}/weights.h5`;
  });

  afterAll(() => closeServer(http));

  it('downloads, checks the MD5 and saves the file', async () => {
    const dest = join(dir, 'model', 'model.h5');
    const run = await xception(['fetch-weights', '--url', url, '--md5', md5, '--dest', dest]);
    expect(run).toMatchObject({ code: 0, stdout: `saved ${dest} (${body.length} bytes, MD5 ${md5})\n` });
    expect(await readFile(dest)).toEqual(body);
  });

  it('exits 1 in one line on a checksum mismatch, and 2 for an MD5 that is not one', async () => {
    const dest = join(dir, 'other.h5');
    const mismatch = await xception(['fetch-weights', '--url', url, '--md5', '0'.repeat(32), '--dest', dest]);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toMatch(/^xception: fetch-weights: checksum mismatch [^\n]+\n$/);
    expect(existsSync(dest)).toBe(false);
    const bad = await xception(['fetch-weights', '--url', url, '--md5', 'xyz', '--dest', dest]);
    expect(bad.code).toBe(2);
  });
});

/** A Node --import file that logs every module URL the process resolves into `log`. */
async function recordModules(name: string): Promise<{ log: string; register: string }> {
  const log = join(dir, `${name}.log`);
  const hooks = join(dir, `${name}-hooks.mjs`);
  await writeFile(
    hooks,
    `
    import { appendFileSync } from 'node:fs';
    export async function resolve(specifier, context, next) {
      const result = await next(specifier, context);
      appendFileSync(${JSON.stringify(log)}, result.url + '\\n');
      return result;
    }`,
  );
  const register = join(dir, `${name}-register.mjs`);
  await writeFile(
    register,
    `import { register } from 'node:module'; register(${JSON.stringify(pathToFileURL(hooks).href)});`,
  );
  return { log, register };
}
