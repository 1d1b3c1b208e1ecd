/**
 * `xception compare-precision`: how close int8 stays to fp32, per image — top-1 agreement, top-5 overlap and the
 * largest probability difference — on the bundled samples or any folder of PNG/JPEG images. Both engines load the
 * weights the server would; int8 uses the calibration cache as the server does (calibrating first on a miss).
 */
import { Command, Option } from 'commander';
import { basename } from 'node:path';
import { addServerOptions, resolveServerConfig } from '../server/config.js';
import type { CalibrationMethod } from '../server/engine/onnx/calibrate.js';
import type { Fidelity } from '../server/engine/onnx/fidelity.js';
import { asFileErrors, calibrationProgress, loadModelInputs, METHOD_CHOICES, MODEL_OPTIONS } from './quantize.js';

interface CompareFlags {
  readonly images?: string;
  readonly method: CalibrationMethod | 'all';
}

export function comparePrecisionCommand(): Command {
  return addServerOptions(new Command('compare-precision'), MODEL_OPTIONS)
    .description(
      'compare int8 with fp32 per image: top-1 agreement, top-5 overlap, max |Δp| (each flag also reads its XCEPTION_* variable)',
    )
    .addOption(
      new Option('--images <dir>', 'PNG/JPEG images to compare on').default(
        undefined,
        'the samples in contrib_src/sample_data',
      ),
    )
    .addOption(
      new Option('--method <method>', 'range method of the int8 graph, or all three in turn')
        .choices([...METHOD_CHOICES, 'all'])
        .default('percentile'),
    )
    .action(async (flags: CompareFlags, command: Command) => {
      const inputs = await loadModelInputs(resolveServerConfig(command, process.env));
      const [
        { int8Calibration, calibrationMetadata, readImageSet, prepareImages, defaultCalibrationDir },
        { createOnnxEngine },
        { runTensors },
        { fidelity },
      ] = await Promise.all([
        import('../server/engine/onnx/calibration.js'),
        import('../server/engine/onnx/onnx-engine.js'),
        import('../server/engine/tensor-slab.js'),
        import('../server/engine/onnx/fidelity.js'),
      ]);
      const { arch, weights, config, contrib, limits } = inputs;
      const set = await asFileErrors(() =>
        readImageSet(flags.images ?? defaultCalibrationDir(config.contribDir), 'images'),
      );
      const images = await asFileErrors(() => prepareImages(set, limits, 'images'));
      const out = (line = '') => process.stdout.write(`${line}\n`);
      const label = (index: number) => contrib.labels[index] ?? `class ${index}`;

      const fp32 = await createOnnxEngine(arch, weights.weights, { threads: config.threads });
      const reference: Float32Array[] = [];
      try {
        for (const image of images) reference.push(await runTensors(fp32, image, 1));
      } finally {
        await fp32.close();
      }

      out(
        `weights: ${weights.source} (sha256 ${weights.sha256.slice(0, 16)}…)${weights.pretrained ? '' : ' — NOT pretrained: seeded random weights'}`,
      );
      out(`images: ${images.length} in ${set.dir}`);
      const methods = flags.method === 'all' ? METHOD_CHOICES : [flags.method];
      for (const method of methods) {
        const progress = calibrationProgress();
        const calibration = await asFileErrors(() =>
          int8Calibration({
            arch,
            weights,
            contribDir: config.contribDir,
            calibrationDir: config.calibrationDir,
            limits,
            method,
            threads: config.threads,
            onProgress: progress.onProgress,
          }),
        ).finally(() => progress.stop());
        const int8 = await createOnnxEngine(arch, weights.weights, {
          threads: config.threads,
          int8: { ranges: calibration.ranges, metadata: calibrationMetadata(calibration) },
        });
        const rows: Fidelity[] = [];
        try {
          for (const [i, image] of images.entries())
            rows.push(fidelity(reference[i]!, await runTensors(int8, image, 1)));
        } finally {
          await int8.close();
        }
        out();
        out(
          `int8, ${method} ranges calibrated on ${calibration.images} images in ${calibration.source}` +
            ` (${calibration.cache.hit ? 'from the cache' : 'calibrated now'}):`,
        );
        out();
        out('| image | top-1 agrees | top-5 overlap | max abs Δp | fp32 top-1 (p) | int8 top-1 (p) |');
        out('| --- | :---: | ---: | ---: | --- | --- |');
        rows.forEach((row, i) => {
          out(
            `| ${basename(set.files[i]!)} | ${row.top1Agrees ? 'yes' : 'NO'} | ${row.top5Overlap}/5 | ${row.maxAbsDiff.toFixed(4)} | ` +
              `${label(row.fp32Top1)} (${row.fp32Top1Probability.toFixed(3)}) | ${label(row.int8Top1)} (${row.int8Top1Probability.toFixed(3)}) |`,
          );
        });
        const agree = rows.filter((r) => r.top1Agrees).length;
        const overlap = rows.reduce((sum, r) => sum + r.top5Overlap, 0) / rows.length;
        const worst = Math.max(...rows.map((r) => r.maxAbsDiff));
        out();
        out(
          `${method}: top-1 agreement ${agree}/${rows.length} (${((100 * agree) / rows.length).toFixed(1)} %), ` +
            `mean top-5 overlap ${overlap.toFixed(2)}/5, worst max abs Δp ${worst.toFixed(4)}`,
        );
      }
    });
}
