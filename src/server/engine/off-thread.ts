/**
 * Runs one exported function of a module in a worker thread and resolves with what it returns: for long synchronous
 * work — reading an 88 MB weights file, compiling the ONNX graph, a second or more each — that would otherwise stall
 * the event loop while the server is serving (a weights reload). Arguments are copied in (or moved, with `transfer`);
 * the ArrayBuffers of the result are moved out, not copied. An error keeps its message and name.
 */
import { spawnWorker } from './spawn-worker.js';
import type { OffThreadCall, OffThreadReply } from './off-thread-worker.js';

export interface OffThreadOptions {
  /** Buffers of the arguments to move into the worker rather than copy (the caller must not use them afterwards). */
  readonly transfer?: readonly ArrayBuffer[];
}

/** The module `baseName` beside `moduleUrl` (an import.meta.url), as .ts when running from source (vitest, tsx). */
export function siblingModule(moduleUrl: string, baseName: string): string {
  return new URL(`./${baseName}${moduleUrl.endsWith('.ts') ? '.ts' : '.js'}`, moduleUrl).href;
}

export async function offThread<Result>(
  moduleUrl: string,
  exportName: string,
  args: readonly unknown[],
  options: OffThreadOptions = {},
): Promise<Result> {
  const worker = spawnWorker(import.meta.url, 'off-thread-worker', {
    name: `off-thread ${exportName}`,
    workerData: { moduleUrl, exportName, args } satisfies OffThreadCall,
    transferList: [...(options.transfer ?? [])],
  });
  try {
    const reply = await new Promise<OffThreadReply>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the ${exportName} worker exited with code ${code}`)));
    });
    if (reply.ok) return reply.result as Result;
    throw Object.assign(new Error(reply.message), { name: reply.name });
  } finally {
    await worker.terminate();
  }
}

/** Every ArrayBuffer in a value of plain objects, arrays, Maps and typed arrays, each once (to move, not copy). */
export function arrayBuffersIn(value: unknown, found = new Set<ArrayBuffer>()): ArrayBuffer[] {
  if (ArrayBuffer.isView(value)) {
    if (value.buffer instanceof ArrayBuffer) found.add(value.buffer);
  } else if (value instanceof Map) {
    for (const item of value.values()) arrayBuffersIn(item, found);
  } else if (Array.isArray(value)) {
    for (const item of value) arrayBuffersIn(item, found);
  } else if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) arrayBuffersIn(item, found);
  }
  return [...found];
}
