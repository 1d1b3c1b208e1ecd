/**
 * A server's Prometheus metrics as tests read them: from its registry when the server runs in the test's process,
 * from its /metrics endpoint when it runs as its own process.
 */
import type { Registry } from 'prom-client';
import { POLL_INTERVAL_MS } from './poll.js';

/** The server's registry (`server.metrics.registry`) or its metrics URL (`http://127.0.0.1:PORT/metrics`). */
export type MetricsSource = Registry | string;

/** The value of the sample `name` whose labels are exactly `labels` (0 when there is none yet). */
export async function metricValue(
  source: MetricsSource,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  if (typeof source !== 'string') {
    const wanted = labelsKey(labels);
    const metric = await source.getSingleMetric(name)?.get();
    return (
      metric?.values.find((sample) => !('metricName' in sample) && labelsKey(sample.labels) === wanted)?.value ?? 0
    );
  }
  return sampleValue(await metricsText(source), name, labels);
}

/** One read of every metric: a sample's value by name and exact labels, or every sample of a name. */
export interface Scrape {
  (name: string, labels?: Record<string, string>): number;
  /** Every sample named `name`, whatever its labels (e.g. the process' active handles by type). */
  all(name: string): { labels: Record<string, string>; value: number }[];
}

/**
 * Every metric read at one moment, for values that move together (a request leaving the queue is the moment its
 * engine run starts): separate reads could see it in both or in neither.
 */
export async function scrape(source: MetricsSource): Promise<Scrape> {
  const text = await metricsText(source);
  return Object.assign((name: string, labels: Record<string, string> = {}) => sampleValue(text, name, labels), {
    all: (name: string) =>
      [...samples(text)].filter((sample) => sample.name === name).map(({ labels, value }) => ({ labels, value })),
  });
}

/** Each series name a query can select (a histogram's as NAME_bucket, NAME_sum, NAME_count), with its labels' values. */
export type Exposition = Map<string, Map<string, Set<string>>>;

/**
 * What the server exposes, as PromQL sees it: every series name, with the values each of its labels has had in the
 * samples so far. A metric without samples yet is listed with no labels.
 */
export async function exposition(source: MetricsSource): Promise<Exposition> {
  const text = await metricsText(source);
  const series: Exposition = new Map();
  for (const [, family, type] of text.matchAll(/^# TYPE (\S+) (\w+)$/gm)) {
    const suffixes =
      type === 'histogram' ? ['_bucket', '_sum', '_count'] : type === 'summary' ? ['', '_sum', '_count'] : [''];
    for (const suffix of suffixes) series.set(`${family!}${suffix}`, new Map());
  }
  for (const sample of samples(text)) {
    const labels = series.get(sample.name) ?? series.set(sample.name, new Map()).get(sample.name)!;
    for (const [label, value] of Object.entries(sample.labels)) {
      (labels.get(label) ?? labels.set(label, new Set()).get(label)!).add(value);
    }
  }
  return series;
}

async function metricsText(source: MetricsSource): Promise<string> {
  return typeof source === 'string' ? (await fetch(source)).text() : source.metrics();
}

/**
 * The requests a server's scheduler has taken in so far: those waiting in its queue plus the engine runs started (one
 * request per run, as without --max-batch). Finished, queued and running requests all count; refused ones and those
 * that left the queue unrun (deadline, cancel) do not.
 */
export async function admittedRequests(
  source: MetricsSource,
): Promise<{ queued: number; runs: number; total: number }> {
  const value = await scrape(source);
  const queued = value('xception_queue_depth');
  const runs = value('xception_batch_size_count');
  return { queued, runs, total: queued + runs };
}

/** The value of a sample in Prometheus' text format. */
function sampleValue(text: string, name: string, labels: Record<string, string>): number {
  const wanted = labelsKey(labels);
  for (const sample of samples(text)) {
    if (sample.name === name && labelsKey(sample.labels) === wanted) return sample.value;
  }
  return 0;
}

/** The sample lines of Prometheus' text format. */
function* samples(text: string): Generator<{ name: string; labels: Record<string, string>; value: number }> {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]),
    );
    yield { name: match[1]!, labels, value: Number(match[3]) };
  }
}

function labelsKey(labels: Partial<Record<string, string | number>>): string {
  return JSON.stringify(
    Object.entries(labels)
      .map(([k, v]) => [k, String(v)])
      .sort(),
  );
}

/** The highest value `read` returns, sampled every POLL_INTERVAL_MS from now until `stop()` (which takes a last sample). */
export function watchMax(read: () => Promise<number>): { readonly max: number; stop(): Promise<number> } {
  let max = -Infinity;
  let stopped = false;
  const sample = async () => {
    max = Math.max(max, await read());
  };
  const loop = (async () => {
    while (!stopped) {
      await sample();
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
  })();
  return {
    get max() {
      return max;
    },
    async stop() {
      stopped = true;
      await loop;
      await sample();
      return max;
    },
  };
}
