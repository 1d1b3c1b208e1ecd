/**
 * The engine as it runs from dist/: compiled JavaScript whose worker is tfjs-worker.js, started without tsx. The
 * sources are transpiled (no type check; tsc covers that) into a temporary folder shaped like dist/.
 */
import { mkdtemp, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { createTfjsEngine as CreateTfjsEngine } from '../../../../src/server/engine/tfjs/tfjs-engine.js';
import { workerEntry } from '../../../../src/server/engine/spawn-worker.js';
import { runTensors } from '../../../../src/server/engine/tensor-slab.js';
import { ArchitectureBuilder, type Architecture } from '../../../../src/server/model/architecture.js';
import { evaluateReference, prng, randomWeights, uniform } from '../../../support/reference-model.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
let outDir: string;

async function transpileTree(from: string, to: string, options: ts.CompilerOptions): Promise<void> {
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    if (entry.isDirectory()) {
      await transpileTree(source, path.join(to, entry.name), options);
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
      const text = await readFile(source, 'utf8');
      const { outputText } = ts.transpileModule(text, { compilerOptions: options, fileName: source });
      await mkdir(to, { recursive: true });
      await writeFile(path.join(to, entry.name.replace(/\.ts$/, '.js')), outputText);
    }
  }
}

beforeAll(async () => {
  const config = ts.readConfigFile(path.join(root, 'tsconfig.json'), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
  // Emit ES modules as tsc does for this "type": "module" package (transpileModule cannot see package.json).
  const esm: ts.CompilerOptions = {
    ...options,
    module: ts.ModuleKind.ES2022,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    sourceMap: false,
    declaration: false,
  };
  outDir = await mkdtemp(path.join(os.tmpdir(), 'tfjs-dist-'));
  // The engine and the model description are all the tfjs engine imports.
  for (const dir of ['server/engine', 'server/model']) {
    await transpileTree(path.join(root, 'src', dir), path.join(outDir, dir), esm);
  }
  await writeFile(path.join(outDir, 'package.json'), JSON.stringify({ type: 'module' }));
  await symlink(path.join(root, 'node_modules'), path.join(outDir, 'node_modules'), 'dir');
});

afterAll(async () => {
  if (outDir !== undefined) await rm(outDir, { recursive: true, force: true });
});

it('picks the .js worker next to compiled code and a tsx bootstrap next to TypeScript source', () => {
  const fromDist = workerEntry('file:///srv/dist/server/engine/tfjs/tfjs-engine.js', 'tfjs-worker');
  expect(fromDist).toEqual({ script: new URL('file:///srv/dist/server/engine/tfjs/tfjs-worker.js'), eval: false });
  const fromSource = workerEntry('file:///srv/src/server/engine/tfjs/tfjs-engine.ts', 'tfjs-worker');
  expect(fromSource.eval).toBe(true);
  expect(fromSource.script).toContain('"file:///srv/src/server/engine/tfjs/tfjs-worker.ts"');
  expect(fromSource.script).toContain('tsx/dist/esm/api');
});

it('runs from compiled JavaScript', async () => {
  const b = new ArchitectureBuilder();
  let x = b.input('input_1', [9, 9, 3]);
  x = b.conv(x, 'conv', 4, 3, 2, 'valid');
  x = b.bn(x, 'conv_bn');
  x = b.relu(x, 'conv_act');
  x = b.maxPool(x, 'pool');
  x = b.globalAveragePool(x, 'avg_pool');
  b.dense(x, 'predictions', 3);
  const arch: Architecture = { name: 'micro', layers: b.layers, inputShape: [9, 9, 3], classes: 3 };
  const weights = randomWeights(arch, 3);
  const input = uniform(prng(9), 9 * 9 * 3, -1, 1);

  const compiled = pathToFileURL(path.join(outDir, 'server/engine/tfjs/tfjs-engine.js')).href;
  const { createTfjsEngine } = (await import(compiled)) as { createTfjsEngine: typeof CreateTfjsEngine };
  const engine = await createTfjsEngine(arch, weights, { threads: 1 });
  try {
    const output = await runTensors(engine, input, 1);
    const expected = evaluateReference(arch, weights, input, 1);
    for (let i = 0; i < expected.length; i++) expect(output[i]).toBeCloseTo(expected[i]!, 5);
  } finally {
    await engine.close();
  }
});
