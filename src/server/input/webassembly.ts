/** The part of the WebAssembly JS API the input stage uses (the project's `lib` carries no WebAssembly typings). */

interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
  RuntimeError: abstract new () => Error;
}

export const { WebAssembly } = globalThis as unknown as { WebAssembly: WebAssemblyApi };

/** A module's exported memory: `buffer` is replaced (the old one detached) whenever it grows. */
export interface WebAssemblyMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
