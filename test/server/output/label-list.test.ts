import { describe, expect, it } from 'vitest';
import { Code, ServiceError } from '../../../src/server/errors.js';
import { resolveTopK, toLabelList } from '../../../src/server/output/label-list.js';

const labels = ['tench', 'goldfish', 'great white shark', 'tiger shark', 'hammerhead', 'electric ray'];
const probabilities = Float32Array.from([0.05, 0.4, 0.1, 0.3, 0.1, 0.05]);

describe('resolveTopK', () => {
  it('uses the config default for 0', () => {
    expect(resolveTopK(0, 5, 1000)).toBe(5);
  });

  it('keeps a k within the class count', () => {
    expect(resolveTopK(1, 5, 1000)).toBe(1);
    expect(resolveTopK(999, 5, 1000)).toBe(999);
  });

  it('clamps anything at or beyond the class count to all classes', () => {
    expect(resolveTopK(1000, 5, 1000)).toBe(1000);
    expect(resolveTopK(4_000_000_000, 5, 1000)).toBe(1000);
    expect(resolveTopK(0, 5000, 1000)).toBe(1000);
  });

  it('refuses a negative or fractional k as INVALID_ARGUMENT', () => {
    for (const k of [-1, 1.5, Number.NaN]) {
      const call = () => resolveTopK(k, 5, 1000);
      expect(call).toThrow(ServiceError);
      expect(call).toThrow(/top_k must be a non-negative integer/);
      try {
        call();
      } catch (err) {
        expect((err as ServiceError).code).toBe(Code.INVALID_ARGUMENT);
      }
    }
  });
});

describe('toLabelList', () => {
  it('returns the top k by probability, descending, with labels and indices', () => {
    expect(toLabelList(probabilities, labels, 2, true)).toEqual([
      { label: 'goldfish', probability: probabilities[1], index: 1 },
      { label: 'tiger shark', probability: probabilities[3], index: 3 },
    ]);
  });

  it('breaks ties by the lower class index', () => {
    expect(toLabelList(probabilities, labels, 4, true).map((e) => e.index)).toEqual([1, 3, 2, 4]);
    expect(toLabelList(probabilities, labels, 6, true).map((e) => e.index)).toEqual([1, 3, 2, 4, 0, 5]);
    expect(toLabelList(new Float32Array(6).fill(1 / 6), labels, 3, true).map((e) => e.index)).toEqual([0, 1, 2]);
  });

  it('lists the selected classes in class order when not sorting', () => {
    expect(toLabelList(probabilities, labels, 3, false).map((e) => e.index)).toEqual([1, 2, 3]);
    const all = toLabelList(probabilities, labels, 6, false);
    expect(all.map((e) => e.label)).toEqual(labels);
    expect(all.map((e) => e.probability)).toEqual(Array.from(probabilities));
  });

  it('returns nothing for k = 0 and everything for k beyond the class count', () => {
    expect(toLabelList(probabilities, labels, 0, true)).toEqual([]);
    expect(toLabelList(probabilities, labels, 4_000_000_000, true)).toHaveLength(6);
  });

  it('ranks NaN last', () => {
    const withNaN = Float32Array.from([Number.NaN, 0.2, 0.1, Number.NaN, 0.3, 0.4]);
    expect(toLabelList(withNaN, labels, 6, true).map((e) => e.index)).toEqual([5, 4, 1, 2, 0, 3]);
    expect(toLabelList(withNaN, labels, 3, true).map((e) => e.index)).toEqual([5, 4, 1]);
  });

  it('agrees with a full sort for every k over 1000 classes, both selection paths', () => {
    const classes = 1000;
    const p = new Float32Array(classes);
    for (let i = 0; i < classes; i++) p[i] = ((i * 7919) % 211) / 211; // many ties
    const names = Array.from({ length: classes }, (_, i) => `class ${i}`);
    const reference = Array.from({ length: classes }, (_, i) => i).sort((a, b) => p[b]! - p[a]! || a - b);
    for (const k of [1, 5, 63, 64, 65, 200, 999, 1000]) {
      expect(toLabelList(p, names, k, true).map((e) => e.index)).toEqual(reference.slice(0, k));
      expect(toLabelList(p, names, k, false).map((e) => e.index)).toEqual(reference.slice(0, k).sort((a, b) => a - b));
    }
  });

  it('refuses a row whose length differs from the labels', () => {
    expect(() => toLabelList(new Float32Array(5), labels, 1, true)).toThrow(/5 probabilities for 6 labels/);
  });
});
