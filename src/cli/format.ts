/** How results look on a terminal, and as JSON. */
import type { FrameResult, ModelError, ModelMetadata, Prediction, Runtime } from '../client/index.js';

export function percent(probability: number): string {
  return `${(probability * 100).toFixed(2)}%`;
}

function milliseconds(seconds: number): string {
  return `${Math.round(seconds * 1000)} ms`;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** 16777216 → "16 MiB", 1536 → "1.5 KiB", 100 → "100 bytes". */
export function bytes(n: number): string {
  const [unit, size] =
    n >= MiB ? (['MiB', MiB] as const) : n >= KiB ? (['KiB', KiB] as const) : ([undefined, 1] as const);
  if (!unit) return `${n} bytes`;
  const value = n / size;
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${unit}`;
}

/** 40000000 → "40,000,000". */
function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** The line above predict's tables when the server's predictions cannot mean anything; undefined when pretrained. */
export function notPretrainedNote(runtime: Runtime): string | undefined {
  if (runtime.pretrained) return undefined;
  return `note: the server's weights are NOT pretrained (seeded random, seed ${runtime.seed}): these classes are meaningless`;
}

/** One image's top-k as a small table under a heading line. */
export function predictionTable(file: string, prediction: Prediction): string {
  const width = Math.max(5, ...prediction.labels.map((l) => l.label.length));
  const rows = prediction.labels.map(
    (l, i) =>
      `  ${String(i + 1).padStart(2)}  ${l.label.padEnd(width)}  ${percent(l.probability).padStart(11)}  #${l.index}`,
  );
  const where = [
    prediction.instance && `instance ${prediction.instance}`,
    milliseconds(prediction.processingTime),
  ].filter(Boolean);
  return [
    `${file}  (${where.join(', ')})`,
    `   #  ${'class'.padEnd(width)}  ${'probability'.padStart(11)}  index`,
    ...rows,
  ].join('\n');
}

export interface JsonPrediction {
  readonly file: string;
  readonly id?: string;
  readonly labels?: Prediction['labels'];
  readonly processingTime?: number;
  readonly timestamp?: string;
  readonly model?: Prediction['model'];
  readonly instance?: string;
  readonly error?: { readonly code: number; readonly codeName: string; readonly message: string };
}

export function predictionJson(file: string, prediction: Prediction): JsonPrediction {
  const { id, labels, processingTime, timestamp, model, instance } = prediction;
  return { file, id, labels, processingTime, timestamp: timestamp?.toISOString(), model, instance };
}

export function errorJson(file: string, error: ModelError): JsonPrediction {
  return { file, error: { code: error.code, codeName: error.codeName, message: error.details } };
}

/** One line per stream result: "[3] cat.png  tabby 41.20%, tiger cat 20.01%  (412 ms, replica-a)". */
export function frameLine(file: string, result: FrameResult): string {
  const head = `[${result.id}] ${file}`;
  if (result.error) {
    const what = result.error.codeName === 'ABORTED' ? 'dropped' : 'failed';
    return `${head}  ${what}: ${result.error.codeName}: ${result.error.message}`;
  }
  const labels = result.labels.map((l) => `${l.label} ${percent(l.probability)}`).join(', ');
  return `${head}  ${labels}  (${milliseconds(result.processingTime)}${result.instance ? `, ${result.instance}` : ''})`;
}

export function frameJson(file: string, result: FrameResult): JsonPrediction {
  if (result.error) return { file, id: result.id, error: result.error, instance: result.instance };
  return predictionJson(file, result);
}

/** A person's summary of GetMetadata. */
export function metadataSummary(metadata: ModelMetadata): string {
  const runtime = metadata.runtime;
  const limits = metadata.dimLimits.map((d) => `${d.dimension} ${d.min || '…'}–${d.max || '…'}`).join(', ');
  const lines: [string, string][] = [
    ['model', `${metadata.name} (${metadata.id})`],
    ['task', [metadata.task, metadata.taskExtended].filter(Boolean).join(': ')],
    ['input', [metadata.inputFormats.join(', '), limits].filter(Boolean).join('; ')],
    ['outputs', metadata.outputs.map((o) => `${o.name} (${o.type}, [${o.shape.join('×')}])`).join(', ')],
    ['labels', `${metadata.labels.length} classes; top ${metadata.top} by default${metadata.sort ? ', sorted' : ''}`],
  ];
  if (runtime) {
    lines.push(
      [
        'engine',
        `${runtime.engine} (${runtime.backend}), ${runtime.threads} threads, ${runtime.maxConcurrency} at once, queue ${runtime.maxQueue}`,
      ],
      ['weights', `${weightsOrigin(runtime)}, sha256 ${runtime.weightsSha256.slice(0, 16)}…`],
      [
        'pretrained',
        runtime.pretrained ? 'yes' : `NO — random weights (seed ${runtime.seed}): predictions are meaningless`,
      ],
      [
        'limits',
        `messages up to ${bytes(runtime.maxMessageBytes)}, images up to ${count(runtime.maxInputPixels)} pixels`,
      ],
      ['instance', `${runtime.instance}, version ${runtime.version}`],
    );
  }
  const width = Math.max(...lines.map(([key]) => key.length));
  return lines.map(([key, value]) => `${key.padEnd(width)}  ${value}`).join('\n');
}

/** "keras-hdf5 from /models/xception.h5", or "seeded random (seed 0)" where the weights came from no file. */
function weightsOrigin(runtime: Runtime): string {
  if (runtime.weightsFormat === 'seeded-random') return `seeded random (seed ${runtime.seed})`;
  return `${runtime.weightsFormat} from ${runtime.weightsSource}`;
}
