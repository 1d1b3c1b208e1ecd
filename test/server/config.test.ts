import { describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { parseServerConfig, SERVER_OPTIONS } from '../../src/server/config.js';

describe('server configuration', () => {
  it('uses the defaults with no flags and no environment', () => {
    const config = parseServerConfig([], {});
    expect(config).toMatchObject({
      host: '0.0.0.0',
      port: 50051,
      engine: 'onnx',
      threads: availableParallelism(),
      requirePretrained: false,
      seed: 0,
      maxQueue: 64,
      maxConcurrency: 1,
      maxMessageBytes: 16 * 1024 * 1024,
      gracePeriodSeconds: 10,
      onnxSpinning: false,
      http2WindowBytes: 1024 * 1024,
    });
    expect(config.metricsPort).toBeUndefined();
    expect(config.weights).toBeUndefined();
  });

  it('takes XCEPTION_* variables over defaults, and flags over variables', () => {
    const env = { XCEPTION_PORT: '6000', XCEPTION_HOST: '127.0.0.1', XCEPTION_MAX_QUEUE: '8' };
    expect(parseServerConfig([], env)).toMatchObject({ port: 6000, host: '127.0.0.1', maxQueue: 8 });
    expect(parseServerConfig(['--port', '7000'], env)).toMatchObject({ port: 7000, host: '127.0.0.1', maxQueue: 8 });
  });

  it('reads boolean variables, with false/0 meaning off, and a flag wins over them', () => {
    expect(parseServerConfig([], { XCEPTION_REQUIRE_PRETRAINED: '1' }).requirePretrained).toBe(true);
    expect(parseServerConfig([], { XCEPTION_REQUIRE_PRETRAINED: 'false' }).requirePretrained).toBe(false);
    expect(parseServerConfig(['--require-pretrained'], { XCEPTION_REQUIRE_PRETRAINED: '0' }).requirePretrained).toBe(
      true,
    );
  });

  it('runs as many engine runs at once as there are engine instances, unless --max-concurrency says otherwise', () => {
    expect(parseServerConfig([], {})).toMatchObject({ engineInstances: 1, maxConcurrency: 1 });
    expect(parseServerConfig(['--engine-instances', '2'], {})).toMatchObject({ engineInstances: 2, maxConcurrency: 2 });
    expect(parseServerConfig([], { XCEPTION_ENGINE_INSTANCES: '3' })).toMatchObject({ maxConcurrency: 3 });
    expect(parseServerConfig(['--engine-instances', '2', '--max-concurrency', '4'], {})).toMatchObject({
      engineInstances: 2,
      maxConcurrency: 4,
    });
    expect(() => parseServerConfig(['--engine-instances', '0'], {})).toThrow(/engine-instances/);
  });

  it('refuses bad values with a message naming the option', () => {
    expect(() => parseServerConfig(['--port', 'abc'], {})).toThrow(/port/);
    expect(() => parseServerConfig(['--engine', 'torch'], {})).toThrow(/onnx, tfjs|choices/);
    expect(() => parseServerConfig([], { XCEPTION_PORT: '70000' })).toThrow(/XCEPTION_PORT/);
    expect(() => parseServerConfig([], { XCEPTION_ENGINE: 'torch' })).toThrow(/XCEPTION_ENGINE/);
  });

  it("sends traces where --otlp-endpoint says, else where OpenTelemetry's variables say, else nowhere", () => {
    const traces = (argv: string[], env: NodeJS.ProcessEnv) => parseServerConfig(argv, env).otlpTracesUrl;
    expect(traces([], {})).toBeUndefined();
    expect(traces(['--otlp-endpoint', 'http://collector:4318'], {})).toBe('http://collector:4318/v1/traces');
    expect(traces([], { XCEPTION_OTLP_ENDPOINT: 'https://collector/otlp/' })).toBe('https://collector/otlp/v1/traces');
    // OTLP/HTTP's rules: the general variable is the collector's base URL, the traces one the whole URL, and wins.
    const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318' };
    expect(traces([], otel)).toBe('http://otel:4318/v1/traces');
    const tracesOnly = { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://otel:4318/custom/traces' };
    expect(traces([], { ...otel, ...tracesOnly })).toBe('http://otel:4318/custom/traces');
    // Ours win over OpenTelemetry's.
    expect(traces(['--otlp-endpoint', 'http://mine:4318'], { ...otel, ...tracesOnly })).toBe(
      'http://mine:4318/v1/traces',
    );
    expect(traces([], { ...otel, XCEPTION_OTLP_ENDPOINT: 'http://mine:4318' })).toBe('http://mine:4318/v1/traces');
    // Not a URL: refused, naming where it came from.
    expect(() => traces(['--otlp-endpoint', 'collector:4318'], {})).toThrow(/otlp-endpoint.*http/);
    expect(() => traces([], { OTEL_EXPORTER_OTLP_ENDPOINT: 'otel:4318' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT.*http/);
  });

  it('gives every option an XCEPTION_ variable named after its flag', () => {
    for (const spec of SERVER_OPTIONS) {
      const flag = spec.flags.split(' ')[0]!.replace(/^--/, '');
      expect(spec.env).toBe(`XCEPTION_${flag.toUpperCase().replaceAll('-', '_')}`);
    }
  });
});
