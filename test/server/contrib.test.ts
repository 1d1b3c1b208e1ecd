/** contrib_src/ keeps ModelHub's contributor layout and facts. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CONTRIB_DIR } from '../../src/server/config.js';
import { labelsByIndex, loadContrib } from '../../src/server/contrib.js';

const read = (path: string) => JSON.parse(readFileSync(join(DEFAULT_CONTRIB_DIR, path), 'utf8'));

describe('contrib_src', () => {
  it('labels.json has the 1000 ImageNet classes keyed "0".."999" in ModelHub\'s long form', () => {
    const labels = read('model/labels.json');
    expect(Object.keys(labels)).toHaveLength(1000);
    expect(Object.keys(labels)).toEqual(Array.from({ length: 1000 }, (_, i) => String(i)));
    expect(labels['0']).toBe('tench, Tinca tinca');
    expect(labels['1']).toBe('goldfish, Carassius auratus');
    expect(labels['999']).toBe('toilet tissue, toilet paper, bathroom tissue');
  });

  it("config.json follows ModelHub's schema with this model's facts", () => {
    const config = read('model/config.json');
    expect(config.id).toBe('dbf35840-9c8d-408f-8a36-b9fe2f8e5546');
    expect(config.meta).toMatchObject({
      name: 'xception',
      application_area: 'ImageNet',
      task: 'Classification',
      task_extended: 'ImageNet classification',
      data_type: 'Image/Photo',
      data_source: 'http://www.image-net.org/challenges/LSVRC/2012/',
    });
    expect(config.publication).toMatchObject({
      title: 'Xception: Deep Learning with Depthwise Separable Convolutions',
      authors: 'Francois Chollet',
      year: 2016,
      url: 'https://arxiv.org/abs/1610.02357',
    });
    expect(config.publication.abstract).toMatch(/^We present an interpretation of Inception modules/);
    expect(config.publication.bibtex).toContain('1610.02357');
    expect(config.model).toMatchObject({
      provenance: 'https://github.com/fchollet/deep-learning-models/blob/master/xception.py',
      architecture: 'Convolutional Neural Network (CNN)',
      learning_type: 'Supervised learning',
      format: '.h5',
    });
    expect(config.model.io.input).toEqual({
      format: ['image/png', 'image/jpg', 'image/jpeg'],
      dim_limits: [{ min: 1, max: 4 }, { min: 32 }, { min: 32 }],
    });
    expect(config.model.io.output).toEqual([
      {
        name: 'probabilities',
        type: 'label_list',
        description: 'Probabilities of the 1000 classes in the ImageNet dataset.',
      },
    ]);
    expect(config.modelhub).toEqual({ top: 5, sort: true });
  });

  it('loads with licenses and sample files', async () => {
    const contrib = await loadContrib(DEFAULT_CONTRIB_DIR);
    expect(contrib.labels).toHaveLength(1000);
    expect(contrib.config).toEqual(read('model/config.json'));
    expect(contrib.modelLicense).toMatch(/^MIT License/);
    expect(contrib.sampleDataLicense).toMatch(/CC0/);
    expect(contrib.sampleFiles).toEqual(expect.arrayContaining(['orange.jpg', 'checkerboard.png']));
  });

  it('refuses a labels file with a gap', () => {
    expect(() => labelsByIndex({ '0': 'a', '2': 'c' })).toThrow(/class 1/);
  });
});
