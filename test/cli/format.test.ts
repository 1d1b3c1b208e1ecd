/** The CLI's text and JSON shapes for results, without a server. */
import { describe, expect, it } from 'vitest';
import { describeDetails } from '../../src/cli/call-error.js';
import {
  bytes,
  frameJson,
  frameLine,
  metadataSummary,
  notPretrainedNote,
  percent,
  predictionJson,
  predictionTable,
} from '../../src/cli/format.js';
import type { FrameResult, ModelMetadata, Prediction, Runtime } from '../../src/client/index.js';

const prediction: Prediction = {
  id: 'a',
  labels: [
    { label: 'tabby, tabby cat', probability: 0.41234, index: 281 },
    { label: 'tiger cat', probability: 0.2, index: 282 },
  ],
  processingTime: 0.4123,
  timestamp: new Date('2024-05-01T10:00:00Z'),
  model: { id: 'm', name: 'xception' },
  instance: 'replica-a',
};

describe('CLI format', () => {
  it('prints a prediction as an aligned table under a heading', () => {
    expect(predictionTable('cat.png', prediction)).toBe(
      [
        'cat.png  (instance replica-a, 412 ms)',
        '   #  class             probability  index',
        '   1  tabby, tabby cat       41.23%  #281',
        '   2  tiger cat              20.00%  #282',
      ].join('\n'),
    );
    expect(percent(1)).toBe('100.00%');
  });

  it('prints one line per frame: labels, failure, or a drop', () => {
    expect(frameLine('cat.png', prediction)).toBe(
      '[a] cat.png  tabby, tabby cat 41.23%, tiger cat 20.00%  (412 ms, replica-a)',
    );
    const failure = (codeName: string): FrameResult => ({
      id: '7',
      error: { code: codeName === 'ABORTED' ? 10 : 3, codeName, message: 'why' },
      timestamp: undefined,
      model: undefined,
      instance: 'r',
    });
    expect(frameLine('x.png', failure('INVALID_ARGUMENT'))).toBe('[7] x.png  failed: INVALID_ARGUMENT: why');
    expect(frameLine('x.png', failure('ABORTED'))).toBe('[7] x.png  dropped: ABORTED: why');
    expect(frameJson('x.png', failure('ABORTED'))).toEqual({
      file: 'x.png',
      id: '7',
      error: { code: 10, codeName: 'ABORTED', message: 'why' },
      instance: 'r',
    });
  });

  it('gives JSON with an ISO timestamp', () => {
    expect(predictionJson('cat.png', prediction)).toMatchObject({
      file: 'cat.png',
      id: 'a',
      timestamp: '2024-05-01T10:00:00.000Z',
      instance: 'replica-a',
    });
  });

  it('sizes in the units a person reads', () => {
    expect([bytes(16 * 1024 * 1024), bytes(1536), bytes(100), bytes(5 * 1024 * 1024 + 1)]).toEqual([
      '16 MiB',
      '1.5 KiB',
      '100 bytes',
      '5.0 MiB',
    ]);
  });

  it('describes the weights: a file and its format, or seeded random; a note above predict tables only when random', () => {
    const runtime = (pretrained: boolean): Runtime => ({
      engine: 'onnx',
      backend: 'cpu',
      threads: 2,
      maxConcurrency: 1,
      maxQueue: 64,
      pretrained,
      seed: 7,
      instance: 'i',
      version: '1',
      weightsSource: pretrained ? '/models/xception.h5' : 'seeded-random',
      weightsFormat: pretrained ? 'keras-hdf5' : 'seeded-random',
      weightsSha256: 'ab'.repeat(32),
      maxMessageBytes: 16 * 1024 * 1024,
      maxInputPixels: 40_000_000,
    });
    const summary = (pretrained: boolean) =>
      metadataSummary({
        name: 'xception',
        id: 'x',
        task: 't',
        taskExtended: '',
        inputFormats: [],
        dimLimits: [],
        outputs: [],
        labels: [],
        top: 5,
        sort: true,
        runtime: runtime(pretrained),
      } as unknown as ModelMetadata);
    expect(summary(false)).toMatch(/^weights +seeded random \(seed 7\), sha256 abababababababab…$/m);
    expect(summary(true)).toMatch(/^weights +keras-hdf5 from \/models\/xception\.h5, sha256 /m);
    expect(summary(true)).toMatch(/^limits +messages up to 16 MiB, images up to 40,000,000 pixels$/m);
    expect(notPretrainedNote(runtime(false))).toBe(
      "note: the server's weights are NOT pretrained (seeded random, seed 7): these classes are meaningless",
    );
    expect(notPretrainedNote(runtime(true))).toBeUndefined();
  });

  it('says in a few words why a connection failed, and leaves other details alone', () => {
    const refused =
      'round_robin: No connection established. Last error: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:50199. Resolution note: ';
    expect(describeDetails(refused)).toBe('connection refused at 127.0.0.1:50199');
    expect(describeDetails('Name resolution failed for target dns:nosuchhost.invalid:50051')).toBe(
      'cannot resolve nosuchhost.invalid:50051',
    );
    expect(describeDetails('unrecognised image format; send PNG or JPEG')).toBe(
      'unrecognised image format; send PNG or JPEG',
    );
  });
});
