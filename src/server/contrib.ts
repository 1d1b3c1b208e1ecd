/**
 * The ModelHub contributor folder (contrib_src/): config.json, labels.json, licenses and sample images, read once at
 * start-up. Everything the service says about the model comes from here, so a different ModelHub model could be
 * served by pointing --contrib-dir elsewhere.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

function dimLimit(name: string) {
  const error = `${name}: min must be a whole number ≥ 0 (default 1), max a whole number ≥ min`;
  return z
    .looseObject({ min: z.int({ error }).min(0, { error }).optional(), max: z.int({ error }).optional() })
    .refine(({ min = 1, max }) => max === undefined || max >= min, { error });
}

/** ModelHub's config.json: the fields this service reads are checked and typed, the rest passes through untouched. */
export const modelHubConfigSchema = z.looseObject({
  id: z.string().min(1),
  meta: z.looseObject({ name: z.string().min(1), task: z.string(), task_extended: z.string().optional() }),
  model: z.looseObject({
    io: z.looseObject({
      input: z.looseObject({
        format: z.array(z.string()),
        dim_limits: z.tuple([dimLimit('channels'), dimLimit('height'), dimLimit('width')], {
          error: 'must list [channels, height, width]',
        }),
      }),
      output: z.array(z.looseObject({ name: z.string(), type: z.string(), description: z.string().optional() })).min(1),
    }),
  }),
  modelhub: z.looseObject({ top: z.number().optional(), sort: z.boolean().optional() }).optional(),
});

export type ModelHubConfig = z.output<typeof modelHubConfigSchema>;
export type ModelHubInput = ModelHubConfig['model']['io']['input'];

/** A parsed config.json, checked; every problem in one message, each named by its path. */
export function parseModelHubConfig(json: unknown, source = 'config.json'): ModelHubConfig {
  const parsed = modelHubConfigSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  throw new Error(
    `${source}: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
  );
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
  const config = parseModelHubConfig(JSON.parse(configJson), join(dir, 'model', 'config.json'));
  const labels = labelsByIndex(JSON.parse(await readFile(join(dir, 'model', 'labels.json'), 'utf8')));
  const [modelLicense, sampleDataLicense, sampleFiles] = await Promise.all([
    readOptional(join(dir, 'license', 'model')),
    readOptional(join(dir, 'license', 'sample_data')),
    readdir(join(dir, 'sample_data')).then(
      (names) => names.filter((n) => SAMPLE_EXTENSIONS.test(n)).sort(),
      () => [],
    ),
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
