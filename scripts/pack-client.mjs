#!/usr/bin/env node
/**
 * `npm run pack:client`: builds the xception-client package — the client library (ESM and CommonJS, with types), the
 * generated stubs it imports, and the client commands of the CLI — and packs it into dist-packages/. The files come
 * from src/ as they are; tsc follows the imports of the two entry points, so only what the client uses is shipped.
 * The package's manifest is packages/client/package.json, with this repository's version and dependency ranges.
 * Plain JavaScript: it runs with node alone, after `npm ci` (which generates src/gen).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, 'dist-packages');
const STAGE = join(OUT, 'build', 'xception-client'); // where packages/client/tsconfig.*.json write
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));

if (!existsSync(join(ROOT, 'src', 'gen', 'modelhub'))) {
  console.error('pack-client: src/gen/ is missing; run `npm run generate` (npm ci does) first');
  process.exit(1);
}

rmSync(STAGE, { recursive: true, force: true });
for (const config of ['tsconfig.esm.json', 'tsconfig.cjs.json']) {
  execFileSync(process.execPath, [TSC, '-p', join(ROOT, 'packages', 'client', config)], {
    cwd: ROOT,
    stdio: 'inherit',
  });
}
// The CommonJS copy is marked as such for node and TypeScript alike (its .js and .d.ts files).
writeFileSync(join(STAGE, 'dist', 'cjs', 'package.json'), '{ "type": "commonjs" }\n');
// The CLI is a bin, not an API: no declarations for it.
for (const file of readdirSync(join(STAGE, 'dist', 'cli'))) {
  if (file.endsWith('.d.ts')) rmSync(join(STAGE, 'dist', 'cli', file));
}

const repository = readJson(join(ROOT, 'package.json'));
const { private: _unpublishable, ...manifest } = readJson(join(ROOT, 'packages', 'client', 'package.json'));
manifest.version = repository.version;
manifest.dependencies = Object.fromEntries(
  Object.keys(manifest.dependencies).map((name) => {
    const range = repository.dependencies[name];
    if (!range) throw new Error(`pack-client: ${name} is not a dependency of the repository's package.json`);
    return [name, range];
  }),
);
writeFileSync(join(STAGE, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
copyFileSync(join(ROOT, 'packages', 'client', 'README.md'), join(STAGE, 'README.md'));

mkdirSync(OUT, { recursive: true });
const [packed] = JSON.parse(
  execFileSync('npm', ['pack', '--json', '--pack-destination', OUT], { cwd: STAGE, encoding: 'utf8' }),
);
rmSync(join(OUT, 'build'), { recursive: true, force: true });
console.log(join(OUT, packed.filename));
