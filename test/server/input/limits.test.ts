import { describe, expect, it } from 'vitest';
import { encodedFormatsOf, inputLimitsFromConfig } from '../../../src/server/input/limits.js';

// The shape of ModelHub's config.json for xception.
const config = {
  model: {
    io: {
      input: {
        format: ['image/png', 'image/jpg', 'image/jpeg'],
        dim_limits: [{ min: 1, max: 4 }, { min: 32 }, { min: 32 }],
      },
      output: [{ name: 'probabilities', type: 'label_list' }],
    },
  },
  modelhub: { top: 5, sort: true },
};

describe('inputLimitsFromConfig', () => {
  it('reads formats and [channels, height, width] limits, with the default pixel cap and 299×299', () => {
    expect(inputLimitsFromConfig(config)).toEqual({
      allowedFormats: ['image/png', 'image/jpg', 'image/jpeg'],
      dimLimits: { channels: { min: 1, max: 4 }, height: { min: 32 }, width: { min: 32 } },
      maxInputPixels: 50_000_000,
      targetSize: [299, 299],
    });
  });

  it('applies overrides', () => {
    const limits = inputLimitsFromConfig(config, { maxInputPixels: 1_000_000 });
    expect(limits.maxInputPixels).toBe(1_000_000);
  });

  it('keeps the default for an override given as undefined', () => {
    expect(inputLimitsFromConfig(config, { maxInputPixels: undefined }).maxInputPixels).toBe(50_000_000);
  });

  it('defaults a missing minimum to 1', () => {
    const limits = inputLimitsFromConfig({
      model: { io: { input: { format: ['image/png'], dim_limits: [{ max: 3 }, {}, { min: 8 }] } } },
    });
    expect(limits.dimLimits).toEqual({ channels: { min: 1, max: 3 }, height: { min: 1 }, width: { min: 8 } });
  });

  it('rejects configs it cannot honour', () => {
    const input = config.model.io.input;
    const withInput = (changes: object) => ({ model: { io: { input: { ...input, ...changes } } } });
    expect(() => inputLimitsFromConfig(withInput({ format: ['image/gif'] }))).toThrow(/image\/gif.*not supported/);
    expect(() => inputLimitsFromConfig(withInput({ dim_limits: [{ min: 1 }] }))).toThrow(/\[channels, height, width\]/);
    expect(() => inputLimitsFromConfig(withInput({ dim_limits: [{ min: 5, max: 4 }, {}, {}] }))).toThrow(/channels/);
    expect(() => inputLimitsFromConfig({} as never)).toThrow(/model\.io\.input/);
    expect(() => inputLimitsFromConfig(config, { maxInputPixels: 0 })).toThrow(/maxInputPixels/);
  });
});

describe('encodedFormatsOf', () => {
  it('maps MIME types, both JPEG spellings and any case, to decodable formats', () => {
    expect([...encodedFormatsOf(['image/PNG', 'image/jpg', 'image/jpeg'])]).toEqual(['png', 'jpeg']);
    expect([...encodedFormatsOf(['image/jpg'])]).toEqual(['jpeg']);
  });
});
