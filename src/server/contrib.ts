/**
 * The ModelHub contributor folder (contrib_src/): config.json, labels.json, licenses and sample images, read once at
 * start-up. Everything the service says about the model comes from here, so a different ModelHub model could be
 * served by pointing --contrib-dir elsewhere.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface ModelHubConfig {
  id: string;
  meta: { name: string; task: string; task_extended?: string; [key: string]: unknown };
  model: {
    io: {
      input: { format: string[]; dim_limits: { min?: number; max?: number }[] };
      output: { name: string; type: string; description?: string }[];
    };
    [key: string]: unknown;
  };
  modelhub?: { top?: number; sort?: boolean };
  [key: string]: unknown;
}

export interface Contrib {
  readonly dir: string;
  /** config.json exactly as on disk. */
  readonly configJson: string;
  readonly config: ModelHubConfig;
  /** Class names by index. */
  readonly labels: readonly string[];
  readonly modelLicense: string;
  readonly sampleDataLicense: string;
  /** File names in sample_data/, sorted. */
  readonly sampleFiles: readonly string[];
}

const SAMPLE_EXTENSIONS = /\.(png|jpe?g)$/i;

export async function loadContrib(dir: string): Promise<Contrib> {
  const configJson = await readFile(join(dir, 'model', 'config.json'), 'utf8');
  const config = JSON.parse(configJson) as ModelHubConfig;
  if (!config.id || !config.meta?.name || !config.model?.io?.input || !config.model?.io?.output?.length) {
    throw new Error(`${join(dir, 'model', 'config.json')} lacks id, meta.name or model.io`);
  }
  const labels = labelsByIndex(JSON.parse(await readFile(join(dir, 'model', 'labels.json'), 'utf8')));
  const [modelLicense, sampleDataLicense, sampleFiles] = await Promise.all([
    readOptional(join(dir, 'license', 'model')),
    readOptional(join(dir, 'license', 'sample_data')),
    readdir(join(dir, 'sample_data')).then((names) => names.filter((n) => SAMPLE_EXTENSIONS.test(n)).sort(), () => []),
  ]);
  return { dir, configJson, config, labels, modelLicense, sampleDataLicense, sampleFiles };
}

/** labels.json maps "0".."N-1" to names; every index must be present. */
export function labelsByIndex(json: Record<string, string>): string[] {
  const count = Object.keys(json).length;
  const labels: string[] = [];
  for (let i = 0; i < count; i++) {
    const label = json[String(i)];
    if (typeof label !== 'string') throw new Error(`labels.json has no label for class ${i}`);
    labels.push(label);
  }
  return labels;
}

async function readOptional(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return '';
  }
}
