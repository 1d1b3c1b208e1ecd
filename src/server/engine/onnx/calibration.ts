/**
 * The int8 graph's activation ranges for a given set of weights and calibration images: read from a cache file when
 * this pair was calibrated before, else measured (calibrate.ts) and written to the cache, so start-up stays fast.
 *
 * The cache key is the weights' SHA-256, the calibration set's SHA-256 (over its images' bytes), the range method
 * and this module's format version: changing any of them calibrates again. Cache files live in `.int8-cache/` beside
 * the weights file, or beside the contributor folder's model/ for seeded weights.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { ServiceError } from '../../errors.js';
import { decodeImage } from '../../input/decode.js';
import type { InputLimits } from '../../input/limits.js';
import type { Architecture } from '../../model/architecture.js';
import type { LoadedWeights } from '../../model/weights/weight-map.js';
import {
  activationRanges,
  CALIBRATION_METHODS,
  collectActivationStats,
  DEFAULT_CALIBRATION_METHOD,
  type CalibrationMethod,
} from './calibrate.js';
import type { ActivationRange, ActivationRanges } from './quantize.js';

/** Bumped whenever the graph's quantisation points or the range computation change, so old caches are not reused. */
const CACHE_FORMAT = 1;
const CACHE_DIR = '.int8-cache';
const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);

/** A calibration that cannot run as asked: a missing or empty directory, an image that does not decode. */
export class CalibrationError extends Error {
  override readonly name = 'CalibrationError';
}

/** The images of a directory (a calibration set, or images to compare on), identified by content. */
export interface ImageSet {
  readonly dir: string;
  /** Absolute paths, sorted by name. */
  readonly files: readonly string[];
  /** SHA-256 over the files' SHA-256s in that order, hex. */
  readonly sha256: string;
}

/** What an int8 engine was calibrated on, for metadata and logs. */
export interface CalibrationInfo {
  readonly source: string;
  readonly images: number;
  readonly sha256: string;
  readonly method: CalibrationMethod;
}

export interface Int8Calibration extends CalibrationInfo {
  readonly ranges: ActivationRanges;
  readonly cache: {
    readonly path: string;
    readonly hit: boolean;
    readonly written: boolean;
    readonly writeError?: string;
  };
}

export interface CalibrateOptions {
  readonly arch: Architecture;
  readonly weights: LoadedWeights;
  /** The contributor folder: its sample_data/ is the default calibration set, its model/ holds seeded weights' cache. */
  readonly contribDir: string;
  /** PNG/JPEG images to calibrate on; default: the contributor folder's sample_data/. */
  readonly calibrationDir?: string;
  /** Requests' preprocessing limits: calibration images are prepared exactly like requests. */
  readonly limits: InputLimits;
  readonly method?: CalibrationMethod;
  readonly threads?: number;
  /** Measure again even when the cache has this calibration. */
  readonly refresh?: boolean;
  /** Called after every calibration run (2 per image) on a cache miss. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** The default calibration set: the contributor folder's samples. */
export function defaultCalibrationDir(contribDir: string): string {
  return join(contribDir, 'sample_data');
}

/**
 * Lists and hashes the PNG/JPEG files of `dir` (by extension; other files are ignored); decodes nothing yet. `role`
 * names the directory in errors.
 */
export async function readImageSet(dir: string, role = 'calibration'): Promise<ImageSet> {
  const absolute = resolve(dir);
  let names: string[];
  try {
    names = await readdir(absolute);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'ENOTDIR'
          ? 'is not a directory'
          : `cannot be read (${(error as Error).message})`;
    throw new CalibrationError(`${role} directory ${dir} ${why}`, { cause: error });
  }
  const files = names
    .filter((name) => IMAGE_EXTENSIONS.has(extname(name).toLowerCase()))
    .sort()
    .map((name) => join(absolute, name));
  if (files.length === 0) {
    throw new CalibrationError(`${role} directory ${dir} has no PNG or JPEG images (*.png, *.jpg, *.jpeg)`);
  }
  const digest = createHash('sha256');
  for (const file of files)
    digest.update(
      `${createHash('sha256')
        .update(await readFile(file))
        .digest('hex')}\n`,
    );
  return { dir: absolute, files, sha256: digest.digest('hex') };
}

/** Each image as the model's input, preprocessed as a request would be. */
export async function prepareImages(set: ImageSet, limits: InputLimits, role = 'calibration'): Promise<Float32Array[]> {
  const images: Float32Array[] = [];
  for (const file of set.files) {
    try {
      images.push((await decodeImage(await readFile(file), limits)).tensor);
    } catch (error) {
      const reason = error instanceof ServiceError || error instanceof Error ? error.message : String(error);
      throw new CalibrationError(`${role} image ${file}: ${reason}`, { cause: error });
    }
  }
  return images;
}

/** Where the ranges of these weights and this calibration set are cached. */
export function calibrationCachePath(
  weights: Pick<LoadedWeights, 'format' | 'source' | 'sha256'>,
  contribDir: string,
  calibrationSha256: string,
  method: CalibrationMethod,
): string {
  const home = weights.format === 'seeded-random' ? join(contribDir, 'model') : dirname(weights.source);
  const key = createHash('sha256')
    .update(JSON.stringify({ format: CACHE_FORMAT, weights: weights.sha256, calibration: calibrationSha256, method }))
    .digest('hex');
  return join(home, CACHE_DIR, `${key.slice(0, 32)}.json`);
}

interface CacheFile {
  readonly format: number;
  readonly weightsSha256: string;
  readonly calibration: CalibrationInfo;
  /** tensor → [min, max] */
  readonly ranges: Record<string, [number, number]>;
}

/** The cached ranges, or undefined when the file is absent or not a cache of this calibration. */
async function readCache(
  path: string,
  weightsSha256: string,
  info: CalibrationInfo,
): Promise<ActivationRanges | undefined> {
  let file: CacheFile;
  try {
    file = JSON.parse(await readFile(path, 'utf8')) as CacheFile;
  } catch {
    return undefined;
  }
  const matches =
    file.format === CACHE_FORMAT &&
    file.weightsSha256 === weightsSha256 &&
    file.calibration?.sha256 === info.sha256 &&
    file.calibration?.method === info.method;
  if (!matches || typeof file.ranges !== 'object' || file.ranges === null) return undefined;
  const ranges = new Map<string, ActivationRange>();
  for (const [name, range] of Object.entries(file.ranges)) {
    if (!Array.isArray(range) || range.length !== 2 || !range.every(Number.isFinite)) return undefined;
    ranges.set(name, { min: range[0], max: range[1] });
  }
  return ranges;
}

/** Written to a temporary name and renamed, so a reader never sees half a file. */
async function writeCache(
  path: string,
  weightsSha256: string,
  info: CalibrationInfo,
  ranges: ActivationRanges,
): Promise<void> {
  const file: CacheFile = {
    format: CACHE_FORMAT,
    weightsSha256,
    calibration: info,
    ranges: Object.fromEntries([...ranges].map(([name, { min, max }]) => [name, [min, max]])),
  };
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(file, null, 1)}\n`);
  await rename(temporary, path);
}

/**
 * The activation ranges for the int8 graph of these weights: cached, or calibrated now and cached. A cache that
 * cannot be written (read-only install) only costs a calibration at each start; the result says why.
 */
export async function int8Calibration(options: CalibrateOptions): Promise<Int8Calibration> {
  const { arch, weights, contribDir, limits } = options;
  const method = options.method ?? DEFAULT_CALIBRATION_METHOD;
  if (!CALIBRATION_METHODS.includes(method)) throw new CalibrationError(`unknown calibration method ${method}`);
  const set = await readImageSet(options.calibrationDir ?? defaultCalibrationDir(contribDir));
  const info: CalibrationInfo = { source: set.dir, images: set.files.length, sha256: set.sha256, method };
  const path = calibrationCachePath(weights, contribDir, set.sha256, method);
  if (!options.refresh) {
    const cached = await readCache(path, weights.sha256, info);
    if (cached !== undefined) return { ...info, ranges: cached, cache: { path, hit: true, written: false } };
  }
  const images = await prepareImages(set, limits);
  const stats = await collectActivationStats(arch, weights.weights, images, {
    threads: options.threads,
    onProgress: options.onProgress,
  });
  const ranges = activationRanges(stats, method);
  try {
    await writeCache(path, weights.sha256, info, ranges);
    return { ...info, ranges, cache: { path, hit: false, written: true } };
  } catch (error) {
    return { ...info, ranges, cache: { path, hit: false, written: false, writeError: (error as Error).message } };
  }
}

/** The calibration as the int8 model's metadata_props record it. */
export function calibrationMetadata(info: CalibrationInfo): Record<string, string> {
  return {
    'xception.calibration.source': info.source,
    'xception.calibration.images': String(info.images),
    'xception.calibration.sha256': info.sha256,
    'xception.calibration.method': info.method,
  };
}
