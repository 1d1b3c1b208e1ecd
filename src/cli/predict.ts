/** `xception predict <files…>`: classify image files, as a table or JSON. */
import { Command, Option } from 'commander';
import { ModelError } from '../client/index.js';
import { addClientOptions, withClient, type ClientFlags } from './client-options.js';
import { CliError, ExitCode } from './exit.js';
import { assertReadable, readInputFile } from './files.js';
import { errorJson, predictionJson, predictionTable, type JsonPrediction } from './format.js';
import { wholeNumber } from './parse.js';

interface PredictFlags extends ClientFlags {
  readonly topK?: number;
  readonly json?: boolean;
}

export function predictCommand(): Command {
  return addClientOptions(new Command('predict'))
    .description('classify image files (PNG, JPEG, …) and print the most probable classes')
    .argument('<files...>', 'image files')
    .addOption(new Option('--top-k <n>', 'classes per image (0: the model\'s default)').argParser(wholeNumber(0)))
    .option('--json', 'print a JSON array: [{ file, id, labels: [{ label, probability, index }], processingTime, timestamp, model, instance } | { file, error }]')
    .action(async (files: string[], flags: PredictFlags) => {
      await assertReadable(files);
      const results: JsonPrediction[] = [];
      let failed = 0;
      await withClient(flags, async (client) => {
        for (const file of files) {
          const bytes = await readInputFile(file);
          try {
            const prediction = await client.predict(bytes, { topK: flags.topK });
            if (flags.json) results.push(predictionJson(file, prediction));
            else process.stdout.write(`${predictionTable(file, prediction)}\n\n`);
          } catch (error) {
            if (!(error instanceof ModelError)) throw error;
            failed++;
            if (flags.json) results.push(errorJson(file, error));
            else process.stderr.write(`xception: predict: ${file}: ${error.message}\n`);
          }
        }
      });
      if (flags.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
      if (failed > 0) throw new CliError(ExitCode.CALL_FAILED, ''); // each failure is already reported
    });
}
