/** How far int8 probabilities are from fp32 ones for one image: what `xception compare-precision` reports. */

export interface Fidelity {
  /** fp32's and int8's most probable class. */
  readonly fp32Top1: number;
  readonly int8Top1: number;
  /** Their probabilities, each in its own output. */
  readonly fp32Top1Probability: number;
  readonly int8Top1Probability: number;
  readonly top1Agrees: boolean;
  /** Classes the two top-5 lists share, 0–5. */
  readonly top5Overlap: number;
  /** max over classes of |p_int8 − p_fp32|. */
  readonly maxAbsDiff: number;
}

/** The indices of the k largest values, largest first (ties: lower index first). */
export function topK(probabilities: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: probabilities.length }, (_, i) => i)
    .sort((a, b) => probabilities[b]! - probabilities[a]! || a - b)
    .slice(0, k);
}

export function fidelity(fp32: ArrayLike<number>, int8: ArrayLike<number>): Fidelity {
  if (fp32.length !== int8.length) throw new Error(`fp32 has ${fp32.length} probabilities, int8 ${int8.length}`);
  const fp32Top = topK(fp32, 5);
  const int8Top = topK(int8, 5);
  let maxAbsDiff = 0;
  for (let i = 0; i < fp32.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(fp32[i]! - int8[i]!));
  return {
    fp32Top1: fp32Top[0]!,
    int8Top1: int8Top[0]!,
    fp32Top1Probability: fp32[fp32Top[0]!]!,
    int8Top1Probability: int8[int8Top[0]!]!,
    top1Agrees: fp32Top[0] === int8Top[0],
    top5Overlap: fp32Top.filter((c) => int8Top.includes(c)).length,
    maxAbsDiff,
  };
}
