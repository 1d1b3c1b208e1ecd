/** Softmax probabilities → ModelHub's `label_list` output: [{label, probability}], here with the class index too. */

import { invalidArgument } from '../errors.js';

export interface LabelProbability {
  readonly label: string;
  readonly probability: number;
  /** The class index, 0 … classes − 1. */
  readonly index: number;
}

/**
 * How many entries to return: 0 means the config's default (ModelHub's `top`), anything at or beyond the class count
 * means all of them (so 4 000 000 000 is fine).
 */
export function resolveTopK(requested: number, defaultTop: number, classes: number): number {
  if (!Number.isInteger(requested) || requested < 0) {
    throw invalidArgument(`top_k must be a non-negative integer; got ${requested}`);
  }
  const k = requested === 0 ? defaultTop : requested;
  return Math.max(0, Math.min(k, classes));
}

/** Up to this k, selection by insertion into a short sorted list beats sorting every class. */
const INSERTION_SELECT_MAX_K = 64;

/**
 * The `topK` most probable classes of one row. Sorted by probability descending (ties: lower index first) when
 * `sort`; otherwise the same classes in class order, as ModelHub's REST answer lists them. NaN ranks last.
 */
export function toLabelList(
  probabilities: Float32Array,
  labels: readonly string[],
  topK: number,
  sort: boolean,
): LabelProbability[] {
  if (probabilities.length !== labels.length) {
    throw new Error(`${probabilities.length} probabilities for ${labels.length} labels`);
  }
  const k = Math.max(0, Math.min(Math.floor(topK), probabilities.length));
  const indices = k === probabilities.length ? allIndices(k) : selectTop(probabilities, k);
  if (sort) {
    if (k === probabilities.length) indices.sort((a, b) => compareRank(probabilities, a, b));
  } else {
    indices.sort((a, b) => a - b);
  }
  return indices.map((index) => ({ label: labels[index]!, probability: probabilities[index]!, index }));
}

/** Negative when class a ranks before class b. */
function compareRank(p: Float32Array, a: number, b: number): number {
  const pa = rankValue(p[a]!);
  const pb = rankValue(p[b]!);
  return pa !== pb ? pb - pa : a - b;
}

function rankValue(probability: number): number {
  return Number.isNaN(probability) ? -Infinity : probability;
}

function allIndices(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** The k best class indices, in rank order. */
function selectTop(p: Float32Array, k: number): number[] {
  if (k === 0) return [];
  if (k > INSERTION_SELECT_MAX_K) {
    return allIndices(p.length)
      .sort((a, b) => compareRank(p, a, b))
      .slice(0, k);
  }
  const top: number[] = [];
  for (let i = 0; i < p.length; i++) {
    // Scanning in index order, a tie with the current last never displaces it: ties keep the lower index.
    if (top.length === k && compareRank(p, i, top[k - 1]!) >= 0) continue;
    let at = top.length === k ? k - 1 : top.length;
    while (at > 0 && compareRank(p, i, top[at - 1]!) < 0) {
      top[at] = top[at - 1]!;
      at--;
    }
    top[at] = i;
  }
  return top;
}
