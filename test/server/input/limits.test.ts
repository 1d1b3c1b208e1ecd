import { describe, expect, it } from 'vitest';
import { parseModelHubConfig } from '../../../src/server/contrib.js';
import { encodedFormatsOf, inputLimitsFromConfig } from '../../../src/server/input/limits.js';

// The shape of ModelHub's config.json for xception.
const config = {
  id: 'dbf35840-9c8d-408f-8a36-b9fe2f8e5546',
  meta: { name: 'xception', task: 'Classification' },
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
      maxInputPixels: 40_000_000,
      targetSize: [299, 299],
    });
  });

  it('applies overrides', () => {
    const limits = inputLimitsFromConfig(config, { maxInputPixels: 1_000_000 });
    expect(limits.maxInputPixels).toBe(1_000_000);
  });

  it('keeps the default for an override given as undefined', () => {
    expect(inputLimitsFromConfig(config, { maxInputPixels: undefined }).maxInputPixels).toBe(40_000_000);
  });

  it('defaults a missing minimum to 1', () => {
    const limits = inputLimitsFromConfig({
      model: { io: { input: { format: ['image/png'], dim_limits: [{ max: 3 }, {}, { min: 8 }] } } },
    });
    expect(limits.dimLimits).toEqual({ channels: { min: 1, max: 3 }, height: { min: 1 }, width: { min: 8 } });
  });

  it('rejects configs it cannot honour', () => {
    // config.json's shape is checked once, by contrib.ts' schema; what the decoder can read, here.
    const { input, output } = config.model.io;
    const withInput = (changes: object) =>
      parseModelHubConfig({ ...config, model: { io: { input: { ...input, ...changes }, output } } });
    expect(() => inputLimitsFromConfig(withInput({ format: ['image/gif'] }))).toThrow(/image\/gif.*not supported/);
    expect(() => withInput({ dim_limits: [{ min: 1 }] })).toThrow(/\[channels, height, width\]/);
    expect(() => withInput({ dim_limits: [{ min: 5, max: 4 }, {}, {}] })).toThrow(/dim_limits\.0: channels/);
    expect(() => parseModelHubConfig({ ...config, model: { io: { output } } })).toThrow(/model\.io\.input/);
    expect(() => inputLimitsFromConfig(config, { maxInputPixels: 0 })).toThrow(/maxInputPixels/);
  });
});

describe('encodedFormatsOf', () => {
  it('maps MIME types, both JPEG spellings and any case, to decodable formats', () => {
    expect([...encodedFormatsOf(['image/PNG', 'image/jpg', 'image/jpeg'])]).toEqual(['png', 'jpeg']);
    expect([...encodedFormatsOf(['image/jpg'])]).toEqual(['jpeg']);
  });
});
