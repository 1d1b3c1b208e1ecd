/** `xception fetch-weights`: download Keras' ImageNet weights for Xception, verified by MD5, where the server looks. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { join } from 'node:path';
import { DEFAULT_CONTRIB_DIR } from '../server/config.js';
import { XCEPTION_WEIGHTS_MD5, XCEPTION_WEIGHTS_URL } from '../server/model/fetch-weights.js';
import { CliError, ExitCode } from './exit.js';

/** Where the server looks for weights by default: contrib_src/model/model.h5 beside the package. */
export const DEFAULT_WEIGHTS_DEST = join(DEFAULT_CONTRIB_DIR, 'model', 'model.h5');

interface FetchFlags {
  readonly dest: string;
  readonly url: string;
  readonly md5: string;
}

export function fetchWeightsCommand(): Command {
  return new Command('fetch-weights')
    .description(
      "download Keras' ImageNet weights for Xception (88 MB), check their MD5, and save them where the server looks",
    )
    .addOption(
      new Option('--dest <path>', 'where to save them').default(
        DEFAULT_WEIGHTS_DEST,
        'contrib_src/model/model.h5 in the package',
      ),
    )
    .addOption(new Option('--url <url>', 'where to download from').default(XCEPTION_WEIGHTS_URL).argParser(url))
    .addOption(new Option('--md5 <hex>', 'expected MD5 of the file').default(XCEPTION_WEIGHTS_MD5).argParser(md5))
    .action(async (flags: FetchFlags) => {
      const { fetchWeights, FetchWeightsError } = await import('../server/model/fetch-weights.js');
      const { downloadProgress } = await import('./download-progress.js');
      const interrupt = new AbortController();
      const onSigint = () => interrupt.abort();
      process.once('SIGINT', onSigint);
      try {
        const saved = await fetchWeights({ ...flags, onProgress: downloadProgress(), signal: interrupt.signal });
        process.stdout.write(`saved ${saved.path} (${saved.bytes} bytes, MD5 ${saved.md5})\n`);
      } catch (error) {
        if (interrupt.signal.aborted) throw new CliError(ExitCode.INTERRUPTED, 'download cancelled');
        if (error instanceof FetchWeightsError)
          throw new CliError(ExitCode.CALL_FAILED, error.message, { cause: error });
        throw error;
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}

function url(value: string): string {
  try {
    new URL(value);
  } catch {
    throw new InvalidArgumentError(`not a URL: "${value}"`);
  }
  return value;
}

function md5(value: string): string {
  if (!/^[0-9a-f]{32}$/i.test(value)) throw new InvalidArgumentError(`expected 32 hex digits, got "${value}"`);
  return value.toLowerCase();
}
