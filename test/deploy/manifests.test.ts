/**
 * The Dockerfile and the Kubernetes manifests (deploy/) stay in step with the server: every flag and XCEPTION_*
 * variable they set exists in SERVER_OPTIONS, the ports they open and probe are the ports the server listens on with
 * that configuration, the objects select and target each other, and the image runs what the build produces.
 * Docker and kubectl do not run in CI, so the files are parsed here (YAML, and the Dockerfile line by line).
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { parseServerConfig, SERVER_OPTIONS, type ServerConfig } from '../../src/server/config.js';
import { SERVICE_NAME } from '../../src/server/transport/grpc/server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(posix.join(ROOT, path), 'utf8');
const VERSION: string = JSON.parse(read('package.json')).version;

const SERVER_FLAGS = new Set(SERVER_OPTIONS.map((o) => o.flags.split(/[\s,]/)[0]!));
const SERVER_ENV = new Set(SERVER_OPTIONS.map((o) => o.env));

// ---------------------------------------------------------------------------------------------------------------------
// The Dockerfile

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** Instructions with continuation lines joined and comments dropped; stages split at FROM. */
function parseDockerfile(text: string): { globalArgs: Map<string, string>; stages: Instruction[][] } {
  const instructions: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && !pending)) continue;
    pending += `${line.replace(/\\$/, '')} `;
    if (line.endsWith('\\')) continue;
    const match = /^(\w+)\s+(.*)$/s.exec(pending.trim())!;
    instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim() });
    pending = '';
  }
  const globalArgs = new Map<string, string>();
  const stages: Instruction[][] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') stages.push([]);
    if (stages.length === 0 && instruction.keyword === 'ARG') {
      const [name, value = ''] = instruction.args.split('=');
      globalArgs.set(name!, value);
    }
    stages.at(-1)?.push(instruction);
  }
  return { globalArgs, stages };
}

/** `ENV A=1 B=2` → {A: '1', B: '2'} (the key=value form; quotes removed). */
function envOf(stage: readonly Instruction[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { args } of stage.filter((i) => i.keyword === 'ENV')) {
    for (const [, key, value] of args.matchAll(/(\w+)=("[^"]*"|'[^']*'|\S+)/g))
      env[key!] = value!.replace(/^["']|["']$/g, '');
  }
  return env;
}

/** Exec-form CMD/ENTRYPOINT (a JSON array). */
function execForm(stage: readonly Instruction[], keyword: 'CMD' | 'ENTRYPOINT'): string[] | undefined {
  const instruction = stage.findLast((i) => i.keyword === keyword);
  return instruction ? (JSON.parse(instruction.args) as string[]) : undefined;
}

/** COPY sources and destination, without --from/--chown options. */
function copies(stage: readonly Instruction[]): { from?: string; sources: string[]; dest: string }[] {
  return stage
    .filter((i) => i.keyword === 'COPY')
    .map(({ args }) => {
      const words = args.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
      const paths = words.filter((w) => !w.startsWith('--'));
      return { from, sources: paths.slice(0, -1), dest: paths.at(-1)! };
    });
}

/**
 * Docker's rule for a path: the last pattern that matches it or a folder above it decides, `!` lets it back in, `*`
 * matches within one path segment.
 */
function dockerIgnores(patterns: readonly string[], path: string): boolean {
  let ignoredNow = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    const glob = negated ? pattern.slice(1) : pattern;
    const regex = new RegExp(`^${glob.split('*').map(escapeRegExp).join('[^/]*')}(/.*)?$`);
    if (regex.test(path)) ignoredNow = !negated;
  }
  return ignoredNow;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const dockerfile = parseDockerfile(read('Dockerfile'));
const buildStage = dockerfile.stages[0]!;
const runtimeStage = dockerfile.stages.at(-1)!;
const imageCmd = execForm(runtimeStage, 'CMD')!;
const imageEnv = envOf(runtimeStage);

// ---------------------------------------------------------------------------------------------------------------------
// The manifests

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: any;
  [key: string]: any;
}

const manifestFiles = readdirSync(posix.join(ROOT, 'deploy'))
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const objects: K8sObject[] = manifestFiles.flatMap((file) =>
  parseAllDocuments(read(`deploy/${file}`)).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`deploy/${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return { ...(doc.toJS() as K8sObject), file };
  }),
);
function only(kind: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`deploy/ should hold one ${kind}, not ${found.length}`);
  return found[0]!;
}

const deployment = only('Deployment');
const podSpec = deployment.spec.template.spec;
const podLabels: Record<string, string> = deployment.spec.template.metadata.labels;
const server = podSpec.containers.find((c: any) => c.name === 'xception');

/** The container's environment as the server sees it: the image's ENV, then the manifest's (valueFrom: a stand-in). */
function containerEnv(container: any): Record<string, string> {
  const env: Record<string, string> = { ...imageEnv };
  for (const entry of container.env ?? [])
    env[entry.name] = entry.valueFrom ? `from-${entry.name.toLowerCase()}` : String(entry.value);
  return env;
}

/** The server's argv in the container: `args` replace the image's CMD, whose first two words are node and the script. */
function containerArgs(container: any): string[] {
  if (container.command) throw new Error('the server container must run the image CMD, not its own command');
  return container.args ?? imageCmd.slice(2);
}

/** The server's configuration in the pod (parsed on use, so that a bad flag fails the test that names it). */
function podConfig(): ServerConfig {
  return parseServerConfig(containerArgs(server), containerEnv(server));
}

function cpuCores(quantity: string | number): number {
  const text = String(quantity);
  return text.endsWith('m') ? Number(text.slice(0, -1)) / 1000 : Number(text);
}

function mebibytes(quantity: string): number {
  const [, amount, unit] = /^(\d+)(Mi|Gi)$/.exec(quantity) ?? [];
  if (!amount) throw new Error(`memory "${quantity}": write it in Mi or Gi`);
  return Number(amount) * (unit === 'Gi' ? 1024 : 1);
}

const flagsIn = (words: readonly string[]) => words.filter((w) => w.startsWith('--')).map((w) => w.split('=')[0]!);
const subset = (inner: Record<string, string>, outer: Record<string, string>) =>
  Object.entries(inner).every(([key, value]) => outer[key] === value);

// ---------------------------------------------------------------------------------------------------------------------

describe('Dockerfile', () => {
  it('builds in one stage and runs from a slim Node 20 image in another', () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
    const base = runtimeStage[0]!.args
      .split(/\s+/)[0]!
      .replace(/^\$\{(\w+)\}$/, (_, name: string) => dockerfile.globalArgs.get(name) ?? '');
    expect(base).toMatch(/^node:(22|24)(\.\d+)*-(bookworm-)?slim$/);
  });

  it("skips onnxruntime-node's download before npm ci, then prunes the dev dependencies", () => {
    const npmrc = buildStage.findIndex((i) => i.keyword === 'ENV' && /\bONNXRUNTIME_NODE_INSTALL=skip\b/.test(i.args));
    const npmCi = buildStage.findIndex((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
    const prune = buildStage.findIndex((i) => i.keyword === 'RUN' && /\bnpm prune --omit=dev\b/.test(i.args));
    expect(npmrc).toBeGreaterThanOrEqual(0);
    expect(npmCi).toBeGreaterThan(npmrc);
    expect(JSON.parse(read('package.json')).allowScripts?.['onnxruntime-node']).toBe(false);
    expect(prune).toBeGreaterThan(npmCi);
    // npm ci builds through the `prepare` script, so the build inputs must be in place before it.
    expect(JSON.parse(read('package.json')).scripts.prepare).toMatch(/npm run build/);
    const copiedBeforeCi = copies(buildStage.slice(0, npmCi)).flatMap((c) => c.sources);
    // The scripts the build runs with node (scripts/build-wasm.mjs) are build inputs too.
    const buildScripts = [...JSON.parse(read('package.json')).scripts.generate.matchAll(/\bnode (scripts\/\S+)/g)];
    expect(buildScripts.length).toBeGreaterThan(0);
    for (const input of ['tsconfig.json', 'buf.gen.yaml', 'proto', 'src', ...buildScripts.map((m) => m[1])]) {
      expect(copiedBeforeCi).toContain(input);
    }
  });

  it('copies only files that exist and that .dockerignore lets into the context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const required of ['node_modules', 'dist', '.git', 'test']) expect(ignored).toContain(required);
    for (const { from, sources } of dockerfile.stages.flatMap(copies)) {
      if (from) continue;
      for (const source of sources) {
        expect(existsSync(posix.join(ROOT, source)), source).toBe(true);
        expect(dockerIgnores(ignored, source), source).toBe(false);
      }
    }
  });

  it('ships what the server runs on, and runs it as a non-root user', () => {
    const shipped = copies(runtimeStage).map((c) => posix.normalize(c.dest).replace(/\/$/, ''));
    for (const path of ['dist', 'node_modules', 'proto', 'contrib_src']) expect(shipped).toContain(path);
    expect(copies(runtimeStage).some((c) => c.sources.some((s) => s.endsWith('package.json')))).toBe(true);
    const user = runtimeStage.findLast((i) => i.keyword === 'USER')?.args;
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user!.split(':')[0]);
  });

  it('starts the compiled server (dist/server/main.js, present after `npm run build`)', () => {
    expect(imageCmd.slice(0, 2)).toEqual(['node', 'dist/server/main.js']);
    expect(existsSync(posix.join(ROOT, imageCmd[1]!))).toBe(true);
    expect(execForm(runtimeStage, 'ENTRYPOINT')).toBeUndefined();
  });

  it('sets only server flags and variables, and EXPOSEs the ports the server then listens on', () => {
    for (const flag of flagsIn(imageCmd)) expect(SERVER_FLAGS, flag).toContain(flag);
    for (const name of Object.keys(imageEnv).filter((n) => n.startsWith('XCEPTION_')))
      expect(SERVER_ENV, name).toContain(name);
    const config = parseServerConfig(imageCmd.slice(2), imageEnv);
    const exposed = runtimeStage
      .filter((i) => i.keyword === 'EXPOSE')
      .flatMap((i) => i.args.split(/\s+/))
      .map((p) => Number(p.split('/')[0]));
    expect(exposed.sort()).toEqual([config.port, config.metricsPort].sort());
  });

  it("health-checks with the CLI's health command on the server's port", () => {
    // Kubernetes probes on its own, but `docker run` and compose have only this to know the server is up.
    const check = runtimeStage.find((i) => i.keyword === 'HEALTHCHECK');
    expect(check, 'the runtime stage has no HEALTHCHECK').toBeDefined();
    const [, script] = /\bCMD\s+(.*)$/.exec(check!.args)!;
    expect(script).toMatch(/^node dist\/cli\/main\.js health /);
    expect(existsSync(posix.join(ROOT, 'dist/cli/main.js'))).toBe(true);
    expect(script).toContain(`\${XCEPTION_PORT:-${parseServerConfig([], {}).port}}`);
  });
});

describe('Kubernetes manifests (deploy/)', () => {
  it('parse, and the kustomization lists every one of them', () => {
    expect(objects.length).toBeGreaterThanOrEqual(5);
    for (const object of objects) expect(object.kind, object.file).toBeTruthy();
    const kustomization = only('Kustomization');
    expect([...kustomization.resources].sort()).toEqual(manifestFiles.filter((f) => f !== kustomization.file));
  });

  it('run the image of this version', () => {
    for (const container of [...podSpec.initContainers, ...podSpec.containers]) {
      expect(container.image, container.name).toMatch(new RegExp(`(^|/)xception:${VERSION.replace(/\./g, '\\.')}$`));
    }
  });

  it('set only flags and XCEPTION_* variables the server has', () => {
    for (const flag of flagsIn(containerArgs(server))) expect(SERVER_FLAGS, flag).toContain(flag);
    for (const { name } of server.env) if (name.startsWith('XCEPTION_')) expect(SERVER_ENV, name).toContain(name);
  });

  it('name each replica after its pod', () => {
    const instance = server.env.find((e: any) => e.name === 'XCEPTION_INSTANCE_ID');
    expect(instance?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
  });

  it('open the ports the server listens on with that configuration', () => {
    const config = podConfig();
    const ports = Object.fromEntries(server.ports.map((p: any) => [p.name, p.containerPort]));
    expect(ports).toEqual({ grpc: config.port, metrics: config.metricsPort });
    expect(config.metricsPort).toBeDefined();
    const annotations = deployment.spec.template.metadata.annotations;
    expect(annotations['prometheus.io/scrape']).toBe('true');
    expect(Number(annotations['prometheus.io/port'])).toBe(config.metricsPort);
    expect(annotations['prometheus.io/path']).toBe('/metrics');
  });

  it('probe gRPC health on the gRPC port, readiness on the model service', () => {
    const config = podConfig();
    for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      const probe = server[kind];
      expect(
        Object.keys(probe).filter((k) => ['grpc', 'httpGet', 'tcpSocket', 'exec'].includes(k)),
        kind,
      ).toEqual(['grpc']);
      expect(probe.grpc.port, kind).toBe(config.port);
      expect(['', SERVICE_NAME], kind).toContain(probe.grpc.service ?? '');
    }
    expect(server.readinessProbe.grpc.service).toBe(SERVICE_NAME);
    // A draining pod answers NOT_SERVING until it exits: liveness must not restart it in the meantime.
    const live = server.livenessProbe;
    expect(live.periodSeconds * live.failureThreshold).toBeGreaterThanOrEqual(config.gracePeriodSeconds);
  });

  it('give the drain time to finish before Kubernetes kills the pod', () => {
    const config = podConfig();
    // The server also waits up to a second after the drain for answers to be written.
    expect(podSpec.terminationGracePeriodSeconds).toBeGreaterThan(config.gracePeriodSeconds + 1);
  });

  it('request a core per inference thread, and a memory limit no lower than the request', () => {
    const config = podConfig();
    const { requests, limits } = server.resources;
    expect(cpuCores(requests.cpu)).toBeGreaterThanOrEqual(config.threads * config.engineInstances);
    // Set explicitly: the default, the number of cores Node sees, is the node's, not the pod's share of it.
    const threadsSet =
      server.env.some((e: any) => e.name === 'XCEPTION_THREADS') ||
      flagsIn(containerArgs(server)).includes('--threads');
    expect(threadsSet).toBe(true);
    expect(mebibytes(limits.memory)).toBeGreaterThanOrEqual(mebibytes(requests.memory));
  });

  it('load the weights the init container fetches', () => {
    const config = podConfig();
    const [fetcher] = podSpec.initContainers;
    const command: string[] = fetcher.command;
    expect(command.slice(0, 3)).toEqual(['node', 'dist/cli/main.js', 'fetch-weights']);
    expect(existsSync(posix.join(ROOT, command[1]!))).toBe(true);
    const help = execFileSync(process.execPath, [command[1]!, command[2]!, '--help'], { cwd: ROOT, encoding: 'utf8' });
    for (const flag of flagsIn(command)) expect(help, flag).toContain(flag);
    const dest = command[command.indexOf('--dest') + 1]!;
    expect(config.weights).toBe(dest);
    expect(config.requirePretrained).toBe(true);
    const volumeAt = (container: any) =>
      container.volumeMounts.find((m: any) => dest.startsWith(`${m.mountPath}/`))?.name;
    expect(volumeAt(fetcher)).toBeDefined();
    expect(volumeAt(server)).toBe(volumeAt(fetcher));
  });

  it('select the pods through a headless Service on the gRPC port', () => {
    const config = podConfig();
    const service = only('Service');
    expect(service.metadata.name).toBe('xception-headless');
    expect(service.spec.clusterIP).toBe('None');
    expect(subset(service.spec.selector, podLabels)).toBe(true);
    const grpc = service.spec.ports.find((p: any) => p.name === 'grpc');
    expect(grpc.port).toBe(config.port);
    const target =
      typeof grpc.targetPort === 'string'
        ? server.ports.find((p: any) => p.name === grpc.targetPort)?.containerPort
        : grpc.targetPort;
    expect(target).toBe(config.port);
  });

  it('select the same pods in the Deployment, and the PodDisruptionBudget', () => {
    expect(subset(deployment.spec.selector.matchLabels, podLabels)).toBe(true);
    const pdb = only('PodDisruptionBudget');
    expect(pdb.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
  });

  it('scale the Deployment on CPU with a HorizontalPodAutoscaler that owns the replica count', () => {
    const hpa = only('HorizontalPodAutoscaler');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: deployment.metadata.name,
    });
    expect(hpa.spec.metrics.map((m: any) => m.resource?.name)).toContain('cpu');
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(deployment.spec.replicas).toBeUndefined();
  });
});
