/**
 * What the dying engine (dying-engine.ts) and its worker (dying-engine-worker.ts) share: the inputs that make the
 * worker die, and the controls a test sets from the main thread (memory shared with every worker of the engine).
 */

/** The three ways an engine worker fails: it exits, it throws where nothing catches, its runtime throws in a run. */
export type DeathKind = 'exit' | 'uncaught' | 'runtime';

/**
 * An image whose first pixel has these RGB bytes asks the worker to die that way. A pattern of three values rather
 * than one, so that no ordinary test image triggers it.
 */
export const DEATH_PIXELS: Readonly<Record<DeathKind, readonly [number, number, number]>> = {
  exit: [1, 2, 3],
  uncaught: [1, 2, 4],
  runtime: [1, 2, 5],
};

/** The code the worker exits with when asked to. */
export const DEATH_EXIT_CODE = 7;

/** A byte as the model sees it (the preprocessing maps 0..255 to −1..1). */
export function modelValue(byte: number): number {
  return byte / 127.5 - 1;
}

/** How the image at `offset` in a batch asks the worker to die, if it does. */
export function deathOf(input: Float32Array, offset: number): DeathKind | undefined {
  for (const [kind, pixel] of Object.entries(DEATH_PIXELS) as [DeathKind, readonly number[]][]) {
    if (pixel.every((byte, c) => Math.abs(input[offset + c]! - modelValue(byte)) < 1e-4)) return kind;
  }
  return undefined;
}

/** Slots of the shared controls (Int32Array). */
export const Control = {
  /** Non-zero: a starting worker waits (before it is ready) until this is zero again. */
  holdStarts: 0,
  /** Non-zero: a starting worker fails to start. */
  failStarts: 1,
  /** Non-zero: a run asked to die waits until this is zero again, then dies. */
  holdDeaths: 2,
  /** Workers started so far. */
  started: 3,
  /** From here on, the OS thread id of each worker started, in order. */
  threadIds: 4,
} as const;

/** Workers one engine may start in a test. */
export const MAX_WORKERS = 64;

export function newControls(): Int32Array {
  return new Int32Array(new SharedArrayBuffer((Control.threadIds + MAX_WORKERS) * Int32Array.BYTES_PER_ELEMENT));
}
