/**
 * `xception quantize`: calibrates the int8 graph's activation ranges for the weights the server would load and writes
 * them to the calibration cache, so `serve --precision int8` starts without calibrating. Then checks with ONNX
 * Runtime's optimised graph that the convolutions really run as integer kernels.
 */
import { lazyBar } from './progress.js';
import { Command, Option } from 'commander';
import { addServerOptions, resolveServerConfig, type ServerConfig } from '../server/config.js';
import type { CalibrationMethod } from '../server/engine/onnx/calibrate.js';
import type { LoadedWeights } from '../server/model/weights/weight-map.js';
import type { Architecture } from '../server/model/architecture.js';
import type { Contrib } from '../server/contrib.js';
import type { InputLimits } from '../server/input/limits.js';
import { CliError, ExitCode } from './exit.js';

/** The server options that decide which model, weights and calibration images a command works on. */
export const MODEL_OPTIONS = [
  'contribDir',
  'weights',
  'requirePretrained',
  'seed',
  'threads',
  'calibrationDir',
] as const;

/** Range methods, as --method takes them. */
export const METHOD_CHOICES = ['percentile', 'entropy', 'minmax'] as const;

export interface ModelInputs {
  readonly config: ServerConfig;
  readonly contrib: Contrib;
  readonly arch: Architecture;
  readonly weights: LoadedWeights;
  readonly limits: InputLimits;
}

/** Contributor files, architecture, weights and input limits, resolved exactly as the server resolves them. */
export async function loadModelInputs(config: ServerConfig): Promise<ModelInputs> {
  const [{ loadContrib }, { xception }, { resolveWeights }, { inputLimitsFromConfig }, { WeightsError }] =
    await Promise.all([
      import('../server/contrib.js'),
      import('../server/model/architecture.js'),
      import('../server/model/weights/resolve.js'),
      import('../server/input/limits.js'),
      import('../server/model/weights/weight-map.js'),
    ]);
  const contrib = await loadContrib(config.contribDir);
  const arch = xception(contrib.labels.length);
  try {
    const weights = await resolveWeights({ ...config, weightsPath: config.weights, arch });
    const limits = inputLimitsFromConfig(contrib.config, { maxInputPixels: config.maxInputPixels });
    return { config, contrib, arch, weights, limits };
  } catch (error) {
    if (error instanceof WeightsError) throw new CliError(ExitCode.FILE, error.message, { cause: error });
    throw error;
  }
}

/** A bar of calibration runs on a terminal's stderr; nothing for pipes and logs. */
export function calibrationProgress(stream: NodeJS.WriteStream = process.stderr): {
  onProgress(done: number, total: number): void;
  stop(): void;
} {
  const bar = lazyBar('calibrating [{bar}] {value}/{total} runs | ETA {eta_formatted}', stream);
  return { onProgress: (done, total) => bar.update(done, total), stop: bar.stop };
}

/** Calibration errors (a missing or empty directory, an undecodable image) are file problems: exit 3. */
export async function asFileErrors<T>(work: () => Promise<T>): Promise<T> {
  const { CalibrationError } = await import('../server/engine/onnx/calibration.js');
  try {
    return await work();
  } catch (error) {
    if (error instanceof CalibrationError) throw new CliError(ExitCode.FILE, error.message, { cause: error });
    throw error;
  }
}

interface QuantizeFlags {
  readonly method: CalibrationMethod;
  readonly force?: boolean;
}

export function quantizeCommand(): Command {
  return addServerOptions(new Command('quantize'), MODEL_OPTIONS)
    .description(
      'calibrate int8 activation ranges for the weights the server would load, and cache them so that ' +
        '`serve --precision int8` starts at once (each flag also reads its XCEPTION_* variable)',
    )
    .addOption(
      new Option('--method <method>', 'how each activation range is chosen')
        .choices(METHOD_CHOICES)
        .default('percentile'),
    )
    .addOption(new Option('--force', 'calibrate again even when the cache has these weights and images'))
    .action(async (flags: QuantizeFlags, command: Command) => {
      const inputs = await loadModelInputs(resolveServerConfig(command, process.env));
      const { int8Calibration, calibrationMetadata } = await import('../server/engine/onnx/calibration.js');
      const progress = calibrationProgress();
      const calibration = await asFileErrors(() =>
        int8Calibration({
          arch: inputs.arch,
          weights: inputs.weights,
          contribDir: inputs.config.contribDir,
          calibrationDir: inputs.config.calibrationDir,
          limits: inputs.limits,
          method: flags.method,
          threads: inputs.config.threads,
          refresh: flags.force,
          onProgress: progress.onProgress,
        }),
      ).finally(() => progress.stop());
      const { cache } = calibration;
      const out = (line: string) => process.stdout.write(`${line}\n`);
      out(
        `weights: ${inputs.weights.source} (sha256 ${inputs.weights.sha256.slice(0, 16)}…${inputs.weights.pretrained ? '' : ', NOT pretrained'})`,
      );
      out(
        `calibration: ${calibration.images} images in ${calibration.source} (sha256 ${calibration.sha256.slice(0, 16)}…), ` +
          `method ${calibration.method}, ${calibration.ranges.size} activation ranges`,
      );
      if (cache.hit) out(`cache: up to date, ${cache.path}`);
      else if (cache.written) out(`cache: written, ${cache.path}`);
      else
        throw new CliError(ExitCode.FILE, `could not write the calibration cache ${cache.path}: ${cache.writeError}`);

      const [{ compileOnnxModel }, { optimizedOpCounts, convolutionKinds }] = await Promise.all([
        import('../server/engine/onnx/graph.js'),
        import('../server/engine/onnx/optimized-ops.js'),
      ]);
      const model = compileOnnxModel(inputs.arch, inputs.weights.weights, {
        precision: { kind: 'int8', ranges: calibration.ranges },
        metadata: calibrationMetadata(calibration),
      });
      const counts = await optimizedOpCounts(model, inputs.config.threads);
      const { integer, float } = convolutionKinds(counts);
      out(
        `ONNX Runtime runs ${integer} of ${integer + float} convolutions on int8 ` +
          `(${[...counts].map(([op, n]) => `${op} ×${n}`).join(', ')})`,
      );
    });
}
