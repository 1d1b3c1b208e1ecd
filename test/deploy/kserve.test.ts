/**
 * deploy/kserve/ stays in step with the server: the InferenceService selects the ServingRuntime, a model format and a
 * protocol it declares; the runtime sets only server flags and XCEPTION_* variables; the ports it declares and probes
 * are the ports the server then listens on, the probes call the protocol's public health routes, and the weights
 * the storage initializer downloads are the ones the server loads. KServe does not run in CI, so the files are parsed.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { parseServerConfig, SERVER_OPTIONS, type ServerConfig } from '../../src/server/config.js';
import { XCEPTION_WEIGHTS_URL } from '../../src/server/model/fetch-weights.js';
import { LIVE_ROUTE, PUBLIC_REST_ROUTES, READY_ROUTE } from '../../src/server/transport/oip/health.js';
import { MODEL_NAME, MODEL_VERSION } from '../../src/server/transport/oip/model.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIR = 'deploy/kserve';
const read = (path: string) => readFileSync(posix.join(ROOT, path), 'utf8');
const VERSION: string = JSON.parse(read('package.json')).version;

const SERVER_FLAGS = new Set(SERVER_OPTIONS.map((o) => o.flags.split(/[\s,]/)[0]!));
const SERVER_ENV = new Set(SERVER_OPTIONS.map((o) => o.env));
/** Where KServe's storage initializer puts the storageUri's contents. */
const KSERVE_MODEL_DIR = '/mnt/models';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: any;
  file: string;
  [key: string]: any;
}

const files = readdirSync(posix.join(ROOT, DIR))
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const objects: K8sObject[] = files.flatMap((file) =>
  parseAllDocuments(read(`${DIR}/${file}`)).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${DIR}/${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return { ...(doc.toJS() as Omit<K8sObject, 'file'>), file };
  }),
);

function only(kind: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`${DIR} should hold one ${kind}, not ${found.length}`);
  return found[0]!;
}

const runtime = only('ServingRuntime');
const service = only('InferenceService');
const container = runtime.spec.containers.find((c: any) => c.name === 'kserve-container');
const model = service.spec.predictor.model;

/** The container's XCEPTION_* environment (valueFrom: a stand-in value). */
function containerEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of container.env ?? [])
    env[entry.name] = entry.valueFrom ? `from-${entry.name.toLowerCase()}` : String(entry.value);
  return env;
}

const flagsIn = (words: readonly string[]) => words.filter((w) => w.startsWith('--')).map((w) => w.split('=')[0]!);

/** The server's configuration in the pod: the image's CMD with the runtime's args and environment. */
function podConfig(): ServerConfig {
  return parseServerConfig(container.args ?? [], containerEnv());
}

describe('KServe manifests (deploy/kserve/)', () => {
  it('parse into one ServingRuntime and one InferenceService, both listed by the kustomization', () => {
    expect(runtime.apiVersion).toBe('serving.kserve.io/v1alpha1');
    expect(service.apiVersion).toBe('serving.kserve.io/v1beta1');
    const kustomization = only('Kustomization');
    expect([...kustomization.resources].sort()).toEqual(files.filter((f) => f !== kustomization.file));
  });

  it('select the runtime, a model format it supports and a protocol it speaks: Open Inference Protocol over gRPC', () => {
    expect(model.runtime).toBe(runtime.metadata.name);
    expect(runtime.spec.supportedModelFormats).toContainEqual(expect.objectContaining(model.modelFormat));
    expect(model.protocolVersion).toBe('grpc-v2');
    expect(runtime.spec.protocolVersions).toContain(model.protocolVersion);
    // The server speaks the protocol over both transports, and nothing else KServe names (v1).
    expect([...runtime.spec.protocolVersions].sort()).toEqual(['grpc-v2', 'v2']);
  });

  it('name the InferenceService and its model format after the model and version the server serves', () => {
    expect(service.metadata.name).toBe(MODEL_NAME);
    expect(model.modelFormat).toEqual({ name: MODEL_NAME, version: MODEL_VERSION });
  });

  it("run this version's image with its own command, setting only server flags and XCEPTION_* variables", () => {
    expect(container.image).toMatch(new RegExp(`(^|/)xception:${VERSION.replace(/\./g, '\\.')}$`));
    expect(container.command).toBeUndefined();
    for (const flag of flagsIn(container.args ?? [])) expect(SERVER_FLAGS, flag).toContain(flag);
    for (const { name } of container.env) if (name.startsWith('XCEPTION_')) expect(SERVER_ENV, name).toContain(name);
    const instance = container.env.find((e: any) => e.name === 'XCEPTION_INSTANCE_ID');
    expect(instance?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
  });

  it('declare the gRPC port as h2c, and probe the public health routes on the HTTP port the server then opens', () => {
    const config = podConfig();
    expect(container.ports).toEqual([{ name: 'h2c', containerPort: config.port, protocol: 'TCP' }]);
    expect(config.httpPort).toBeDefined();
    expect(config.httpPort).not.toBe(config.port);
    const expected = { startupProbe: READY_ROUTE, readinessProbe: READY_ROUTE, livenessProbe: LIVE_ROUTE };
    for (const [kind, path] of Object.entries(expected)) {
      const probe = container[kind];
      expect(probe.httpGet, kind).toEqual({ path, port: config.httpPort });
      // Probes carry no token: with --auth-tokens on, only public routes would answer them.
      expect(PUBLIC_REST_ROUTES.has(probe.httpGet.path), kind).toBe(true);
    }
  });

  it("load, and require, the weights KServe's storage initializer downloads from the storageUri", () => {
    const config = podConfig();
    expect(model.storageUri).toBe(XCEPTION_WEIGHTS_URL);
    expect(config.weights).toBe(posix.join(KSERVE_MODEL_DIR, posix.basename(new URL(model.storageUri).pathname)));
    expect(config.requirePretrained).toBe(true);
  });

  it('give the drain time to finish, and do not restart a draining pod', () => {
    const config = podConfig();
    expect(service.spec.predictor.terminationGracePeriodSeconds).toBeGreaterThan(config.gracePeriodSeconds + 1);
    const live = container.livenessProbe;
    expect(live.periodSeconds * live.failureThreshold).toBeGreaterThanOrEqual(config.gracePeriodSeconds);
  });

  it('request a core per inference thread, with the thread count set explicitly', () => {
    const config = podConfig();
    expect(container.env.some((e: any) => e.name === 'XCEPTION_THREADS')).toBe(true);
    expect(Number(container.resources.requests.cpu)).toBeGreaterThanOrEqual(config.threads * config.engineInstances);
    expect(service.spec.predictor.minReplicas).toBeGreaterThanOrEqual(2);
  });
});
