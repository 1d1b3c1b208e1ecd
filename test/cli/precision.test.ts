/**
 * `xception quantize` and `xception compare-precision` as a user runs them (`node dist/cli/main.js …`), and
 * `xception serve --engine tfjs --precision int8` refused. Run `npm run build` first (npm test does).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cp, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI_MAIN, runCommand, type CommandRun } from '../support/subprocess.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function xception(args: string[], env: Record<string, string> = {}): Promise<CommandRun> {
  return runCommand(process.execPath, [CLI_MAIN, ...args], { env });
}

let root: string;
let contribDir: string;
let oneImage: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'xception-precision-cli-'));
  contribDir = join(root, 'contrib_src');
  await cp(join(ROOT, 'contrib_src'), contribDir, {
    recursive: true,
    filter: (source) => !source.includes('.int8-cache'),
  });
  oneImage = join(root, 'one-image');
  await mkdir(oneImage);
  await cp(join(contribDir, 'sample_data', 'traffic-light.png'), join(oneImage, 'traffic-light.png'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('xception quantize', () => {
  it('calibrates, writes the cache and shows the convolutions running on int8; a second run finds it up to date', async () => {
    const flags = ['--contrib-dir', contribDir, '--threads', '2'];
    const first = await xception(['quantize', ...flags], { XCEPTION_CALIBRATION_DIR: oneImage });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`calibration: 1 images in ${oneImage} (sha256 `);
    expect(first.stdout).toContain('method percentile');
    const cacheDir = join(contribDir, 'model', '.int8-cache');
    const [cached] = await readdir(cacheDir);
    expect(first.stdout).toContain(`cache: written, ${join(cacheDir, cached!)}`);
    expect(first.stdout).toMatch(/^ONNX Runtime runs 74 of 74 convolutions on int8 \(.*QLinearConv ×74/m);

    const second = await xception(['quantize', ...flags, '--calibration-dir', oneImage]);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`cache: up to date, ${join(cacheDir, cached!)}`);
  }, 300_000);

  it('a calibration directory that does not exist: exit 3 and the path', async () => {
    const missing = join(root, 'missing');
    const run = await xception(['quantize', '--contrib-dir', contribDir, '--calibration-dir', missing]);
    expect(run).toEqual({
      code: 3,
      stdout: '',
      stderr: `xception: quantize: calibration directory ${missing} does not exist\n`,
    });
  }, 60_000);

  it('an unknown method is a usage error', async () => {
    const run = await xception(['quantize', '--method', 'median']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("argument 'median' is invalid. Allowed choices are percentile, entropy, minmax.");
  });
});

describe('xception compare-precision', () => {
  it('prints per image the top-1 agreement, top-5 overlap and max |Δp| of int8 against fp32', async () => {
    const run = await xception([
      'compare-precision',
      '--contrib-dir',
      contribDir,
      '--calibration-dir',
      oneImage,
      '--images',
      oneImage,
      '--threads',
      '2',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('NOT pretrained');
    expect(run.stdout).toContain(
      '| image | top-1 agrees | top-5 overlap | max abs Δp | fp32 top-1 (p) | int8 top-1 (p) |',
    );
    const row = /^\| traffic-light\.png \| (yes|NO) \| ([0-5])\/5 \| (\d\.\d{4}) \| .+ \| .+ \|$/m.exec(run.stdout);
    expect(row).not.toBeNull();
    expect(Number(row![3])).toBeLessThan(0.04);
    expect(run.stdout).toMatch(
      /^percentile: top-1 agreement [01]\/1 \(.*\), mean top-5 overlap [0-5]\.\d\d\/5, worst max abs Δp \d\.\d{4}$/m,
    );
  }, 300_000);

  it('a folder without images: exit 3, naming it', async () => {
    const empty = join(root, 'empty');
    await mkdir(empty);
    const run = await xception(['compare-precision', '--contrib-dir', contribDir, '--images', empty]);
    expect(run).toEqual({
      code: 3,
      stdout: '',
      stderr: `xception: compare-precision: images directory ${empty} has no PNG or JPEG images (*.png, *.jpg, *.jpeg)\n`,
    });
  }, 60_000);
});

describe('xception serve --engine tfjs --precision int8', () => {
  it('refuses to start, saying why', async () => {
    const run = await xception([
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--engine',
      'tfjs',
      '--precision',
      'int8',
    ]);
    expect(run.code).toBe(1);
    expect(run.stdout + run.stderr).toContain(
      'cannot start: the tfjs engine has no int8 path: --precision int8 needs --engine onnx',
    );
  }, 60_000);
});
