/**
 * Downloads Keras' ImageNet Xception weights to where the service looks for them.
 *   tsx scripts/fetch-weights.ts [--dest contrib_src/model/model.h5] [--url URL] [--md5 HEX]
 */

import { parseArgs } from 'node:util';
import { fetchWeights, XCEPTION_WEIGHTS_MD5, XCEPTION_WEIGHTS_URL } from '../src/server/model/fetch-weights.js';
import { downloadProgress } from '../src/cli/download-progress.js';
import { contribWeightsPath } from '../src/server/model/weights/resolve.js';

const { values } = parseArgs({
  options: {
    dest: { type: 'string', default: contribWeightsPath('contrib_src') },
    url: { type: 'string', default: XCEPTION_WEIGHTS_URL },
    md5: { type: 'string', default: XCEPTION_WEIGHTS_MD5 },
  },
});

const controller = new AbortController();
process.once('SIGINT', () => controller.abort());

try {
  const result = await fetchWeights({
    url: values.url,
    md5: values.md5,
    dest: values.dest,
    onProgress: downloadProgress(),
    signal: controller.signal,
  });
  console.log(`saved ${result.path} (${result.bytes} bytes, MD5 ${result.md5})`);
} catch (error) {
  console.error(controller.signal.aborted ? 'download cancelled' : (error as Error).message);
  process.exitCode = 1;
}
