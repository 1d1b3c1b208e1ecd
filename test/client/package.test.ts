/**
 * The xception-client package as another service meets it: `scripts/pack-client.mjs` packs it, npm installs the
 * tarball alone into an empty project (no .npmrc, none of this repository's npm settings; packages from npm's cache or
 * the registry), and that project calls a live server through ESM, CommonJS, type-checked TypeScript (node16 and
 * bundler resolution) and the `xception-client` bin.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { png } from '../support/images.js';
import { startTestServer, type TestServer } from '../support/server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
/** npm install, tsc and the server's start share two loaded cores here: generous, and no timing asserted. */
const SLOW = 300_000;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment of a fresh shell: none of the npm_* variables an `npm test` run passes down (this repo's config). */
const FRESH_ENV = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) && !key.startsWith('XCEPTION_')),
);

function run(command: string, args: readonly string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env: FRESH_ENV, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function sizeOf(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const entry of await readdir(path)) total += await sizeOf(join(path, entry));
  return total;
}

let project: string;
let tarball: string;
let install: Run;
let server: TestServer;
let image: string;

beforeAll(async () => {
  project = await mkdtemp(join(tmpdir(), 'xception-client-consumer-'));
  const packed = await run(process.execPath, [join(ROOT, 'scripts/pack-client.mjs')], ROOT);
  if (packed.code !== 0) throw new Error(`pack-client failed: ${packed.stderr}`);
  tarball = packed.stdout.trim().split('\n').at(-1)!;
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  image = join(project, 'picture.png');
  await writeFile(image, await png(160, 120, 5));
  [install, server] = await Promise.all([
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], project),
    startTestServer(['--threads', '2', '--instance-id', 'package-test']),
  ]);
  if (install.code !== 0) throw new Error(`npm install failed: ${install.stderr}`);
}, SLOW);

afterAll(async () => {
  await server?.shutdown(1000);
  if (project) await rm(project, { recursive: true, force: true });
});

describe('the xception-client package', () => {
  it("installs alone: grpc-js, the protobuf runtime, OpenTelemetry's API and the CLI's two libraries, no install scripts, under 20 MB", async () => {
    const manifest = JSON.parse(await readFile(join(project, 'node_modules/xception-client/package.json'), 'utf8'));
    expect(Object.keys(manifest.dependencies).sort()).toEqual([
      '@bufbuild/protobuf',
      '@grpc/grpc-js',
      '@opentelemetry/api',
      'cli-progress',
      'commander',
    ]);
    expect(manifest.scripts).toBeUndefined();
    expect(manifest.bin).toEqual({ 'xception-client': 'dist/cli/client-main.js' });
    const installed = await readdir(join(project, 'node_modules'));
    expect(
      installed.filter((name) => /^(onnxruntime|sharp|h5wasm|@tensorflow|fastify|pino|zod|@img)/.test(name)),
    ).toEqual([]);
    const shipped = await readdir(join(project, 'node_modules/xception-client/dist'));
    expect(shipped.sort()).toEqual(['cjs', 'cli', 'client', 'gen', 'shared']);
    expect(await sizeOf(join(project, 'node_modules'))).toBeLessThan(20 * 1024 * 1024);
  });

  it('works from `import`: predict, metadata, health, and a ModelError for a bad image', async () => {
    await writeFile(
      join(project, 'esm.mjs'),
      `
      import { readFile } from 'node:fs/promises';
      import { createModelClient, ModelError, Code } from 'xception-client';
      const client = createModelClient(process.argv[2]);
      const prediction = await client.predict(await readFile(process.argv[3]), { topK: 3 });
      const metadata = await client.getMetadata();
      const health = await client.health();
      const refusal = await client.predict(new Uint8Array([1, 2, 3])).catch((error) => error);
      console.log(JSON.stringify({
        labels: prediction.labels.map((l) => l.label), instance: prediction.instance, name: metadata.name, health,
        refusal: { isModelError: refusal instanceof ModelError, invalid: refusal.code === Code.INVALID_ARGUMENT },
      }));
      client.close();`,
    );
    const esm = await run(process.execPath, ['esm.mjs', server.address, image], project);
    expect(esm.stderr).toBe('');
    const result = JSON.parse(esm.stdout);
    expect(result.labels).toHaveLength(3);
    for (const label of result.labels) expect((await server.ready).metadata().labels).toContain(label);
    expect(result).toMatchObject({
      instance: 'package-test',
      name: 'xception',
      health: 'SERVING',
      refusal: { isModelError: true, invalid: true },
    });
  });

  it('works from `require` (CommonJS)', async () => {
    await writeFile(
      join(project, 'cjs.cjs'),
      `
      const { readFileSync } = require('node:fs');
      const { createModelClient, ModelError, codeName } = require('xception-client');
      const client = createModelClient(process.argv[2]);
      (async () => {
        const prediction = await client.predict(readFileSync(process.argv[3]), { topK: 2 });
        const refusal = await client.predict(new Uint8Array([1, 2, 3])).catch((error) => error);
        console.log(JSON.stringify({
          labels: prediction.labels.length, isModelError: refusal instanceof ModelError, code: codeName(refusal.code),
          resolvedTo: require.resolve('xception-client'),
        }));
        client.close();
      })();`,
    );
    const cjs = await run(process.execPath, ['cjs.cjs', server.address, image], project);
    expect(cjs.stderr).toBe('');
    expect(JSON.parse(cjs.stdout)).toEqual({
      labels: 2,
      isModelError: true,
      code: 'INVALID_ARGUMENT',
      resolvedTo: expect.stringMatching(/xception-client\/dist\/cjs\/client\/index\.js$/),
    });
  });

  it(
    'type-checks in TypeScript with moduleResolution node16 (ESM and CommonJS files) and bundler',
    async () => {
      // A wrong option type must be an error: the types are real, not `any`.
      const body = `
      const client = createModelClient('127.0.0.1:50051', { deadlineMs: 1000 });
      const prediction: Promise<Prediction> = client.predict(new Uint8Array(8), { topK: 3 });
      // @ts-expect-error topK is a number
      void client.predict(new Uint8Array(8), { topK: 'three' });
      prediction.catch((error: unknown) => {
        if (error instanceof ModelError && error.code === Code.UNAVAILABLE) console.log(error.codeName, error.details);
      });
      client.close();`;
      const imports = `import { createModelClient, ModelError, Code, type Prediction } from 'xception-client';`;
      await writeFile(join(project, 'typed.mts'), `${imports}\n${body}\n`);
      await writeFile(join(project, 'typed.cts'), `${imports}\n${body}\n`);
      await writeFile(join(project, 'typed.ts'), `${imports}\n${body}\nexport {};\n`);
      const strict = { strict: true, noEmit: true, target: 'ES2022', skipLibCheck: false, types: ['node'] };
      await writeFile(
        join(project, 'tsconfig.node16.json'),
        JSON.stringify({
          compilerOptions: { ...strict, module: 'node16', moduleResolution: 'node16' },
          files: ['typed.mts', 'typed.cts'],
        }),
      );
      await writeFile(
        join(project, 'tsconfig.bundler.json'),
        JSON.stringify({
          compilerOptions: { ...strict, module: 'esnext', moduleResolution: 'bundler' },
          files: ['typed.ts'],
        }),
      );
      for (const config of ['tsconfig.node16.json', 'tsconfig.bundler.json']) {
        const tsc = await run(process.execPath, [TSC, '-p', config], project);
        expect(`${tsc.stdout}${tsc.stderr}`, config).toBe('');
        expect(tsc.code, config).toBe(0);
      }
    },
    SLOW,
  );

  it('has the xception-client bin: health, predict, and no serve', async () => {
    const health = await run('npx', ['--no', 'xception-client', 'health', '--address', server.address], project);
    expect(health).toEqual({ code: 0, stdout: 'SERVING\n', stderr: '' });
    const predict = await run(
      'npx',
      ['--no', 'xception-client', 'predict', image, '--top-k', '2', '--address', server.address],
      project,
    );
    expect(predict.code).toBe(0);
    expect(predict.stdout).toMatch(/^note: the server's weights are NOT pretrained/);
    expect(predict.stdout).toContain(`${image}  (instance package-test, `);
    const serve = await run('npx', ['--no', 'xception-client', 'serve'], project);
    expect(serve.code).toBe(2);
    expect(serve.stderr).toMatch(/^xception-client: unknown command 'serve'/);
  });
});
