/** GetMetadata's answer: ModelHub's config verbatim, typed fields callers use, labels, legal texts and the runtime. */
import type { Metadata, Runtime } from '../../gen/modelhub/v1/model_service.js';
import type { Contrib } from '../contrib.js';
import type { ModelRuntime } from './model-runtime.js';

const DIMENSIONS = ['channels', 'height', 'width'];

/** Default number of labels returned when a request leaves top_k at 0 (config.json `modelhub.top`). */
export function defaultTop(contrib: Contrib): number {
  return contrib.config.modelhub?.top ?? 5;
}

export function buildMetadata(contrib: Contrib, runtime: Runtime): Metadata {
  const { config } = contrib;
  const classes = contrib.labels.length;
  return {
    configJson: contrib.configJson,
    id: config.id,
    name: config.meta.name,
    task: config.meta.task,
    taskExtended: config.meta.task_extended ?? '',
    inputFormats: [...config.model.io.input.format],
    dimLimits: config.model.io.input.dim_limits.map((limit, i) => ({
      dimension: DIMENSIONS[i] ?? `dim${i}`,
      min: limit.min ?? 0,
      max: limit.max ?? 0,
    })),
    outputs: config.model.io.output.map((output) => ({
      name: output.name,
      type: output.type,
      description: output.description ?? '',
      shape: output.type === 'label_list' ? [classes] : [],
    })),
    top: defaultTop(contrib),
    sort: config.modelhub?.sort ?? true,
    labels: [...contrib.labels],
    modelLicense: contrib.modelLicense,
    sampleDataLicense: contrib.sampleDataLicense,
    sampleFiles: [...contrib.sampleFiles],
    runtime,
  };
}

/** Runtime's precision fields: the arithmetic, and for int8 the calibration set its ranges came from. */
export function precisionFields({
  precision,
  calibration,
}: Pick<ModelRuntime, 'precision' | 'calibration'>): Pick<Runtime, 'precision' | 'calibration'> {
  return { precision, calibration: calibration && { ...calibration } };
}
