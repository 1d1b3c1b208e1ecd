/** The CLI's text and JSON shapes for results, without a server. */
import { describe, expect, it } from 'vitest';
import { frameJson, frameLine, percent, predictionJson, predictionTable } from '../../src/cli/format.js';
import type { FrameResult, Prediction } from '../../src/client/index.js';

const prediction: Prediction = {
  id: 'a',
  labels: [{ label: 'tabby, tabby cat', probability: 0.41234, index: 281 }, { label: 'tiger cat', probability: 0.2, index: 282 }],
  processingTime: 0.4123,
  timestamp: new Date('2024-05-01T10:00:00Z'),
  model: { id: 'm', name: 'xception' },
  instance: 'replica-a',
};

describe('CLI format', () => {
  it('prints a prediction as an aligned table under a heading', () => {
    expect(predictionTable('cat.png', prediction)).toBe([
      'cat.png  (instance replica-a, 412 ms)',
      '   #  class             probability  index',
      '   1  tabby, tabby cat       41.23%  #281',
      '   2  tiger cat              20.00%  #282',
    ].join('\n'));
    expect(percent(1)).toBe('100.00%');
  });

  it('prints one line per frame: labels, failure, or a drop', () => {
    expect(frameLine('cat.png', prediction)).toBe('[a] cat.png  tabby, tabby cat 41.23%, tiger cat 20.00%  (412 ms, replica-a)');
    const failure = (codeName: string): FrameResult => ({
      id: '7', error: { code: codeName === 'ABORTED' ? 10 : 3, codeName, message: 'why' }, timestamp: undefined, model: undefined, instance: 'r',
    });
    expect(frameLine('x.png', failure('INVALID_ARGUMENT'))).toBe('[7] x.png  failed: INVALID_ARGUMENT: why');
    expect(frameLine('x.png', failure('ABORTED'))).toBe('[7] x.png  dropped: ABORTED: why');
    expect(frameJson('x.png', failure('ABORTED'))).toEqual({ file: 'x.png', id: '7', error: { code: 10, codeName: 'ABORTED', message: 'why' }, instance: 'r' });
  });

  it('gives JSON with an ISO timestamp', () => {
    expect(predictionJson('cat.png', prediction)).toMatchObject({ file: 'cat.png', id: 'a', timestamp: '2024-05-01T10:00:00.000Z', instance: 'replica-a' });
  });
});
