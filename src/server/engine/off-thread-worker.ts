/** The worker side of off-thread.ts: imports the module, calls the export, posts the result with its buffers moved. */
import { parentPort, workerData } from 'node:worker_threads';
import { arrayBuffersIn } from './off-thread.js';

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
  port.postMessage({ ok: true, result } satisfies OffThreadReply, arrayBuffersIn(result));
} catch (error) {
  const { message, name } = error instanceof Error ? error : new Error(String(error));
  port.postMessage({ ok: false, message, name } satisfies OffThreadReply);
}
