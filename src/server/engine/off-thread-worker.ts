/** The worker side of off-thread.ts: imports the module, calls the export, posts the result with its buffers moved. */
import { parentPort, workerData } from 'node:worker_threads';

export interface OffThreadCall {
  readonly moduleUrl: string;
  readonly exportName: string;
  readonly args: readonly unknown[];
}

export type OffThreadReply =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly message: string; readonly name: string };

const { moduleUrl, exportName, args } = workerData as OffThreadCall;
const port = parentPort!;
try {
  const module = await import(moduleUrl);
  const result = await module[exportName](...args);
  port.postMessage({ ok: true, result } satisfies OffThreadReply, [...buffersOf(result, new Set())]);
} catch (error) {
  const { message, name } = error instanceof Error ? error : new Error(String(error));
  port.postMessage({ ok: false, message, name } satisfies OffThreadReply);
}

/** Every ArrayBuffer in a result of plain objects, arrays, Maps and typed arrays (each once). */
function buffersOf(value: unknown, found: Set<ArrayBuffer>): Set<ArrayBuffer> {
  if (ArrayBuffer.isView(value)) {
    if (value.buffer instanceof ArrayBuffer) found.add(value.buffer);
  } else if (value instanceof Map) {
    for (const item of value.values()) buffersOf(item, found);
  } else if (Array.isArray(value)) {
    for (const item of value) buffersOf(item, found);
  } else if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) buffersOf(item, found);
  }
  return found;
}
