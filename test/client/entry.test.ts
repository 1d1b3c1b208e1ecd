/**
 * The package's client entry (dist/client/index.js, "." in package.json) loads none of the server's heavy
 * dependencies: checked in a fresh node process with a module-resolution hook and require.cache.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLIENT_ENTRY = join(ROOT, 'dist/client/index.js');
const SERVER_ENTRY = join(ROOT, 'dist/server/index.js');
const SERVER_DEPENDENCIES = /node_modules\/(onnxruntime-node|onnxruntime-common|sharp|h5wasm|@tensorflow\/)/;

let dir: string;

beforeAll(() => {
  if (!existsSync(CLIENT_ENTRY)) throw new Error('dist/ is missing: run `npm run build` first');
  dir = mkdtempSync(join(tmpdir(), 'xception-entry-'));
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `
    import { appendFileSync } from 'node:fs';
    let log;
    export function initialize(data) { log = data.log; }
    export async function resolve(specifier, context, next) {
      const result = await next(specifier, context);
      appendFileSync(log, result.url + '\\n');
      return result;
    }`,
  );
  writeFileSync(
    join(dir, 'register.mjs'),
    `
    import { register } from 'node:module';
    register('./hooks.mjs', import.meta.url, { data: { log: process.env.MODULE_LOG } });`,
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Imports `entry` in a fresh node; returns every module URL resolved, the CommonJS modules loaded, and the exports. */
function load(entry: string): { modules: string[]; exports: string[] } {
  const log = join(dir, `modules-${Math.random().toString(36).slice(2)}.log`);
  const script = `
    const exported = await import(${JSON.stringify(entry)});
    const { createRequire } = await import('node:module');
    const required = Object.keys(createRequire(${JSON.stringify(join(ROOT, 'package.json'))}).cache);
    console.log(JSON.stringify({ required, exports: Object.keys(exported) }));`;
  const output = execFileSync(
    process.execPath,
    ['--import', join(dir, 'register.mjs'), '--input-type=module', '-e', script],
    {
      env: { ...process.env, MODULE_LOG: log },
      encoding: 'utf8',
    },
  );
  const { required, exports } = JSON.parse(output) as { required: string[]; exports: string[] };
  const resolved = readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((url) => (url.startsWith('file:') ? fileURLToPath(url) : url));
  return { modules: [...resolved, ...required], exports };
}

describe('client entry', () => {
  it('loads grpc-js and the stubs, none of the server or its dependencies', () => {
    const { modules, exports } = load(CLIENT_ENTRY);
    expect(exports).toEqual(
      expect.arrayContaining(['createModelClient', 'ModelError', 'Code', 'codeName', 'resolveTarget']),
    );
    expect(modules.some((m) => m.includes('node_modules/@grpc/grpc-js/'))).toBe(true);
    expect(modules.filter((m) => SERVER_DEPENDENCIES.test(m))).toEqual([]);
    expect(modules.filter((m) => m.includes('/dist/server/'))).toEqual([]);
  });

  it('(the check itself sees them when the server entry is loaded)', () => {
    const { modules, exports } = load(SERVER_ENTRY);
    expect(exports).toEqual(expect.arrayContaining(['startServer', 'parseServerConfig', 'run']));
    expect(modules.filter((m) => SERVER_DEPENDENCIES.test(m)).length).toBeGreaterThan(0);
  });
});
