/**
 * The Grafana dashboard (deploy/grafana/) and the Prometheus alert rules (deploy/prometheus/) query only what the server
 * exports. Every PromQL expression in them is taken apart into the series it selects, its label matchers and its
 * grouping labels, and each is checked against the /metrics of a real server that has answered a Predict and a
 * PredictStream (so its histograms and labelled counters have samples). Grafana and Prometheus do not run here, so the
 * files are parsed (JSON, YAML) and the PromQL tokenized.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { parse } from 'yaml';
import { PixelFormat, type ModelServiceClient, type PredictRequest } from '../../src/gen/modelhub/v1/model_service.js';
import { Code } from '../../src/server/errors.js';
import { unary } from '../support/grpc.js';
import { rgbPixels } from '../support/images.js';
import { exposition, type Exposition } from '../support/metrics.js';
import { waitFor } from '../support/poll.js';
import { modelClient, startTestServer, type TestServer } from '../support/server.js';
import { openStream } from '../support/stream.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(posix.join(ROOT, path), 'utf8');

const DASHBOARD_FILE = 'deploy/grafana/xception.json';
const RULES_FILE = 'deploy/prometheus/xception-alerts.yaml';
const RULE_CR_FILE = 'deploy/prometheus/xception-prometheusrule.yaml';
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a template literal.
const DATASOURCE = '${DS_PROMETHEUS}';

/** Labels Prometheus adds to every series it scrapes, and the series it records for each target itself. */
const TARGET_LABELS = ['job', 'instance'];
const TARGET_SERIES = 'up';

// ---------------------------------------------------------------------------------------------------------------------
// PromQL, as far as the checks need it

/** Aggregation operators: `sum (…) by (…)` or `sum by (…) (…)`. */
const AGGREGATIONS = new Set([
  'avg',
  'bottomk',
  'count',
  'count_values',
  'group',
  'limit_ratio',
  'limitk',
  'max',
  'min',
  'quantile',
  'stddev',
  'stdvar',
  'sum',
  'topk',
]);
/** PromQL's functions (an identifier before `(` that is neither one nor an aggregation is a mistake). */
const FUNCTIONS = new Set([
  'abs',
  'absent',
  'absent_over_time',
  'acos',
  'acosh',
  'asin',
  'asinh',
  'atan',
  'atanh',
  'avg_over_time',
  'ceil',
  'changes',
  'clamp',
  'clamp_max',
  'clamp_min',
  'cos',
  'cosh',
  'count_over_time',
  'day_of_month',
  'day_of_week',
  'day_of_year',
  'days_in_month',
  'deg',
  'delta',
  'deriv',
  'double_exponential_smoothing',
  'end',
  'exp',
  'floor',
  'histogram_avg',
  'histogram_count',
  'histogram_fraction',
  'histogram_quantile',
  'histogram_stddev',
  'histogram_stdvar',
  'histogram_sum',
  'holt_winters',
  'hour',
  'idelta',
  'increase',
  'info',
  'irate',
  'label_join',
  'label_replace',
  'last_over_time',
  'ln',
  'log10',
  'log2',
  'mad_over_time',
  'max_over_time',
  'min_over_time',
  'minute',
  'month',
  'pi',
  'predict_linear',
  'present_over_time',
  'quantile_over_time',
  'rad',
  'rate',
  'resets',
  'round',
  'scalar',
  'sgn',
  'sin',
  'sinh',
  'sort',
  'sort_by_label',
  'sort_by_label_desc',
  'sort_desc',
  'sqrt',
  'start',
  'stddev_over_time',
  'stdvar_over_time',
  'sum_over_time',
  'tan',
  'tanh',
  'time',
  'timestamp',
  'vector',
  'year',
]);
/** Keywords followed by a parenthesized list of label names. */
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'atan2', 'bool', 'offset', 'inf', 'nan']);

interface Token {
  readonly kind: 'string' | 'variable' | 'number' | 'identifier' | 'punctuation';
  readonly text: string;
}

const TOKEN = new RegExp(
  [
    /(?<space>\s+|#[^\n]*)/.source,
    /(?<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)/.source,
    /(?<variable>\$(?:\{\w+\}|\w+))/.source, // Grafana's $job, ${DS_PROMETHEUS}, $__rate_interval
    /(?<number>(?:\d|\.\d)[\w.]*)/.source, // numbers and durations (5m, 1h30m)
    /(?<identifier>[a-zA-Z_:][\w:]*)/.source,
    /(?<punctuation>=~|!~|!=|==|<=|>=|[-+*/%^=<>(){}[\],@])/.source,
  ].join('|'),
  'y',
);

function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < expr.length) {
    const at = TOKEN.lastIndex;
    const match = TOKEN.exec(expr);
    if (!match) throw new Error(`cannot read PromQL at "${expr.slice(at, at + 20)}" in: ${expr}`);
    const [kind, text] = Object.entries(match.groups!).find(([, value]) => value !== undefined)!;
    if (kind !== 'space') tokens.push({ kind: kind as Token['kind'], text: text! });
  }
  return tokens;
}

function unquote(literal: string): string {
  if (literal.startsWith('`')) return literal.slice(1, -1);
  if (literal.startsWith("'")) return JSON.parse(`"${literal.slice(1, -1).replace(/\\'/g, "'").replace(/"/g, '\\"')}"`);
  return JSON.parse(literal);
}

interface Matcher {
  readonly label: string;
  readonly op: '=' | '!=' | '=~' | '!~';
  readonly value: string;
}

interface Selector {
  readonly series: string;
  readonly matchers: Matcher[];
}

/** The series an expression selects (with their matchers) and the labels it groups or matches on. */
function querySelectors(expr: string): { selectors: Selector[]; groupingLabels: string[] } {
  const tokens = tokenize(expr);
  const selectors: Selector[] = [];
  const groupingLabels: string[] = [];
  const fail = (why: string): never => {
    throw new Error(`${why} in: ${expr}`);
  };
  let i = 0;
  const next = () => tokens[i++] ?? fail('unexpected end');
  const expect = (text: string) => {
    if (next().text !== text) fail(`expected "${text}" at token ${i}`);
  };

  const matchers = (): Matcher[] => {
    const found: Matcher[] = [];
    expect('{');
    while (tokens[i]?.text !== '}') {
      const label = next();
      if (label.kind !== 'identifier' && label.kind !== 'string') fail(`expected a label name, not "${label.text}"`);
      const op = next().text;
      if (!['=', '!=', '=~', '!~'].includes(op)) fail(`expected a matcher operator, not "${op}"`);
      const value = next();
      if (value.kind !== 'string') fail(`expected a quoted label value, not "${value.text}"`);
      found.push({
        label: label.kind === 'string' ? unquote(label.text) : label.text,
        op: op as Matcher['op'],
        value: unquote(value.text),
      });
      if (tokens[i]?.text === ',') i++;
    }
    expect('}');
    return found;
  };

  while (i < tokens.length) {
    const token = tokens[i]!;
    if (token.text === '[') {
      // a range or subquery: durations and Grafana variables only
      while (next().text !== ']');
    } else if (token.text === '{') {
      // a selector without a name: {__name__="…"}
      const found = matchers();
      const name =
        found.find((m) => m.label === '__name__' && m.op === '=') ?? fail('a selector without a metric name');
      selectors.push({ series: name.value, matchers: found.filter((m) => m !== name) });
    } else if (token.kind !== 'identifier') {
      i++;
    } else if (GROUPING.has(token.text)) {
      i++;
      if (tokens[i]?.text === '(') {
        i++;
        while (tokens[i]?.text !== ')') {
          const label = next();
          if (label.kind === 'identifier') groupingLabels.push(label.text);
          else if (label.text !== ',') fail(`expected a label name, not "${label.text}"`);
        }
        i++;
      }
    } else if (KEYWORDS.has(token.text.toLowerCase())) {
      i++;
    } else if (AGGREGATIONS.has(token.text) && ['(', 'by', 'without'].includes(tokens[i + 1]?.text ?? '')) {
      i++;
    } else if (tokens[i + 1]?.text === '(') {
      if (!FUNCTIONS.has(token.text)) fail(`unknown function ${token.text}()`);
      i++;
    } else {
      i++;
      selectors.push({ series: token.text, matchers: tokens[i]?.text === '{' ? matchers() : [] });
    }
  }
  return { selectors, groupingLabels };
}

// ---------------------------------------------------------------------------------------------------------------------
// The files

interface Query {
  readonly where: string;
  readonly expr: string;
  /** A label whose values Grafana lists (`label_values(expr, label)`). */
  readonly listsLabel?: string;
}

interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly datasource?: { type: string; uid: string };
  readonly targets?: { refId: string; expr: string; datasource?: { type: string; uid: string } }[];
  readonly panels?: Panel[];
}

const dashboard = JSON.parse(read(DASHBOARD_FILE));
const panels: Panel[] = (dashboard.panels as Panel[]).flatMap((p) => [p, ...(p.panels ?? [])]);
const variables: { name: string; type: string; query: unknown; datasource?: { uid: string } }[] =
  dashboard.templating.list;
const rules = parse(read(RULES_FILE));
const ruleCr = parse(read(RULE_CR_FILE));

const panelQueries: Query[] = panels.flatMap((panel) =>
  (panel.targets ?? []).map((target) => ({
    where: `${DASHBOARD_FILE} "${panel.title}" ${target.refId}`,
    expr: target.expr,
  })),
);
const variableQueries: Query[] = variables
  .filter((v) => v.type === 'query')
  .map((v) => {
    const labelValues = /^label_values\((.+),\s*(\w+)\)$/s.exec(String(v.query)) ?? [];
    return {
      where: `${DASHBOARD_FILE} variable $${v.name}`,
      expr: labelValues[1] ?? String(v.query),
      listsLabel: labelValues[2],
    };
  });
const ruleQueries: Query[] = (
  rules.groups as { name: string; rules: { alert?: string; record?: string; expr: string }[] }[]
).flatMap((group) =>
  group.rules.map((rule) => ({ where: `${RULES_FILE} ${rule.alert ?? rule.record}`, expr: String(rule.expr) })),
);
const queries = [...panelQueries, ...variableQueries, ...ruleQueries];

/** The metric a series belongs to: a histogram's NAME_bucket, NAME_sum and NAME_count are NAME's. */
function metricOf(series: string, exported: Exposition): string {
  const base = series.replace(/_(bucket|sum|count)$/, '');
  return base !== series && exported.has(`${base}_bucket`) ? base : series;
}

// ---------------------------------------------------------------------------------------------------------------------

describe('the PromQL reader', () => {
  it('finds the selected series, their matchers and the grouping labels, and nothing else', () => {
    const expr =
      'histogram_quantile(0.99, sum by (job, le) (rate(a_bucket{method="Predict", job=~"$job"}[$__rate_interval])))' +
      ' / on (instance) group_left () max_over_time(b[5m:1m] offset 1h) > bool 2 and {__name__="c", x!~\'y|z\'} unless d';
    expect(querySelectors(expr)).toEqual({
      selectors: [
        {
          series: 'a_bucket',
          matchers: [
            { label: 'method', op: '=', value: 'Predict' },
            { label: 'job', op: '=~', value: '$job' },
          ],
        },
        { series: 'b', matchers: [] },
        { series: 'c', matchers: [{ label: 'x', op: '!~', value: 'y|z' }] },
        { series: 'd', matchers: [] },
      ],
      groupingLabels: ['job', 'le', 'instance'],
    });
  });

  it('refuses what it cannot read: an unknown function, a matcher without quotes', () => {
    expect(() => querySelectors('rates(a[5m])')).toThrow(/unknown function rates\(\)/);
    expect(() => querySelectors('a{code=OK}')).toThrow(/quoted label value/);
    expect(() => querySelectors('a | b')).toThrow(/cannot read PromQL/);
  });
});

describe(`Grafana dashboard (${DASHBOARD_FILE})`, () => {
  it('takes its data source from the DS_PROMETHEUS variable, on every panel and query', () => {
    expect(variables.find((v) => v.name === 'DS_PROMETHEUS')).toMatchObject({
      type: 'datasource',
      query: 'prometheus',
    });
    const queried = panels.filter((p) => p.type !== 'row');
    expect(queried.length).toBeGreaterThan(0);
    for (const panel of queried) {
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: DATASOURCE });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets!)
        expect(target.datasource, `${panel.title} ${target.refId}`).toEqual({ type: 'prometheus', uid: DATASOURCE });
    }
    for (const variable of variables.filter((v) => v.type === 'query'))
      expect(variable.datasource?.uid, variable.name).toBe(DATASOURCE);
  });

  it('has job and instance variables, and every panel query keeps to them', () => {
    expect(variableQueries.map((q) => q.listsLabel)).toEqual(['job', 'instance']);
    for (const { where, expr } of panelQueries) {
      for (const { series, matchers } of querySelectors(expr).selectors) {
        expect(matchers, `${where}: ${series}`).toEqual(
          expect.arrayContaining([
            { label: 'job', op: '=~', value: '$job' },
            { label: 'instance', op: '=~', value: '$instance' },
          ]),
        );
      }
    }
  });

  it('has unique panel ids and a unique refId for each query of a panel', () => {
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const panel of panels) {
      const refIds = (panel.targets ?? []).map((t) => t.refId);
      expect(new Set(refIds).size, panel.title).toBe(refIds.length);
    }
  });
});

describe(`Prometheus alert rules (${RULES_FILE})`, () => {
  const alerts = (rules.groups as { rules: Record<string, any>[] }[]).flatMap((g) => g.rules);

  it('are in the rules format: named groups of alerts, each with a duration, a severity and a summary', () => {
    expect(rules.groups.length).toBeGreaterThan(0);
    for (const group of rules.groups) expect(group.name).toMatch(/\S/);
    expect(alerts.length).toBeGreaterThan(0);
    expect(new Set(alerts.map((a) => a.alert)).size).toBe(alerts.length);
    for (const alert of alerts) {
      expect(alert.alert).toMatch(/^Xception[A-Z]\w+$/);
      expect(Object.keys(alert).sort(), alert.alert).toEqual(['alert', 'annotations', 'expr', 'for', 'labels']);
      expect(alert.for, alert.alert).toMatch(/^(\d+[smhd])+$/);
      expect(['critical', 'warning', 'info'], alert.alert).toContain(alert.labels.severity);
      expect(alert.annotations.summary, alert.alert).toMatch(/\S/);
      expect(alert.annotations.description, alert.alert).toMatch(/\S/);
    }
  });

  it(`are the same groups in the Prometheus Operator's PrometheusRule (${RULE_CR_FILE})`, () => {
    expect(ruleCr).toMatchObject({
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: 'xception' },
    });
    expect(ruleCr.spec, `${RULE_CR_FILE} spec differs from ${RULES_FILE}: edit both`).toEqual(rules);
  });
});

describe("dashboard and alert queries against a real server's /metrics", () => {
  let server: TestServer;
  let client: ModelServiceClient;
  let exported: Exposition;

  beforeAll(async () => {
    server = await startTestServer(['--metrics-port', '0', '--metrics-host', '127.0.0.1']);
    client = modelClient(server.address);
    const pixels = rgbPixels(299, 299);
    const frame = (id: string): PredictRequest => ({
      id,
      topK: 1,
      input: { $case: 'raw', value: { width: 299, height: 299, format: PixelFormat.PIXEL_FORMAT_RGB8, data: pixels } },
    });
    await unary(client.predict.bind(client), frame('one'));
    // Frames written far faster than inference under the "latest" policy: most are dropped, so every outcome the
    // queries name has a sample.
    const stream = openStream(client, { 'x-stream-policy': 'latest' });
    const ids = Array.from({ length: 6 }, (_, n) => `live-${n}`);
    for (const id of ids) stream.call.write(frame(id));
    await waitFor(() => stream.responses.length === ids.length || stream.error, 30_000, 'an answer to every frame');
    stream.call.end();
    await waitFor(() => stream.ended || stream.error, 10_000, 'stream end');
    expect(stream.error).toBeUndefined();
    exported = await exposition(`http://127.0.0.1:${server.metricsPort}/metrics`);
  });

  afterAll(async () => {
    client?.close();
    await server?.shutdown(1000);
  });

  it('every series, matcher and grouping label is one the server exports, with a value it exports', () => {
    const codeNames = new Set(Object.keys(Code).filter((key) => Number.isNaN(Number(key))));
    expect(queries.length).toBeGreaterThan(0);
    for (const { where, expr, listsLabel } of queries) {
      const { selectors, groupingLabels } = querySelectors(expr);
      expect(selectors.length, `${where} selects no series: ${expr}`).toBeGreaterThan(0);
      const known = new Set(TARGET_LABELS);
      for (const { series, matchers } of selectors) {
        const labels = series === TARGET_SERIES ? new Map() : exported.get(series);
        expect(labels, `${where}: the server exports no ${series}`).toBeDefined();
        for (const label of labels!.keys()) known.add(label);
        for (const { label, value } of matchers) {
          if (TARGET_LABELS.includes(label)) continue;
          expect(labels!.has(label), `${where}: ${series} has no label ${label}`).toBe(true);
          // A variable ($job) or a pattern is not a value; a plain alternation (A|B) is a list of values.
          if (value.includes('$') || !/^\w+(\|\w+)*$/.test(value)) continue;
          for (const one of value.split('|')) {
            // Status codes are the names of Code, whether or not this server has answered with each yet.
            const valid = label === 'code' ? codeNames.has(one) : labels!.get(label)!.has(one);
            expect(valid, `${where}: ${series} has no ${label}="${one}"`).toBe(true);
          }
        }
      }
      for (const label of [...groupingLabels, ...(listsLabel ? [listsLabel] : [])]) {
        expect(known.has(label), `${where}: no series it selects has the label ${label}`).toBe(true);
      }
    }
  });

  it('the dashboard shows every metric the server defines (beside the process and Node.js defaults)', () => {
    const defaults = new Registry();
    collectDefaultMetrics({ register: defaults, prefix: 'xception_' });
    const defaultNames = new Set(defaults.getMetricsAsArray().map((m) => m.name));
    const own = server.metrics.registry
      .getMetricsAsArray()
      .map((m) => m.name)
      .filter((name) => !defaultNames.has(name));
    expect(own.length).toBeGreaterThan(0);
    const shown = new Set(
      panelQueries.flatMap(({ expr }) => querySelectors(expr).selectors.map((s) => metricOf(s.series, exported))),
    );
    expect(
      own.filter((name) => !shown.has(name)),
      'metrics with no panel',
    ).toEqual([]);
  });
});
