/** `xception predict <files or folders…>`: classify image files, as a table or JSON. */
import { Command, Option } from 'commander';
import { ModelError, type ModelClient } from '../client/index.js';
import { describeCallError } from './call-error.js';
import { addClientOptions, withClient, type ClientFlags } from './client-options.js';
import { CliError, ExitCode } from './exit.js';
import { assertReadable, expandImagePaths, readInputFile } from './files.js';
import { errorJson, notPretrainedNote, predictionJson, predictionTable, type JsonPrediction } from './format.js';
import { wholeNumber } from './parse.js';

interface PredictFlags extends ClientFlags {
  readonly topK?: number;
  readonly json?: boolean;
}

export function predictCommand(): Command {
  return addClientOptions(new Command('predict'))
    .description('classify image files (PNG, JPEG, …) and print the most probable classes')
    .argument('<paths...>', 'image files, or folders (their image files, by name)')
    .addOption(new Option('--top-k <n>', "classes per image (0: the model's default)").argParser(wholeNumber(0)))
    .option(
      '--json',
      'print a JSON array: [{ file, id, labels: [{ label, probability, index }], processingTime, timestamp, model, instance } | { file, error }]',
    )
    .action(async (paths: string[], flags: PredictFlags, command: Command) => {
      const files = await expandImagePaths(paths);
      await assertReadable(files);
      const prefix = `${command.parent?.name() ?? 'xception'}: predict`;
      const results: JsonPrediction[] = [];
      let failed = 0;
      let noted = false;
      await withClient(flags, async (client) => {
        for (const file of files) {
          const bytes = await readInputFile(file);
          try {
            const prediction = await client.predict(bytes, { topK: flags.topK });
            if (flags.json) {
              results.push(predictionJson(file, prediction));
              continue;
            }
            if (!noted) {
              noted = true;
              const note = await weightsNote(client);
              if (note) process.stdout.write(`${note}\n\n`);
            }
            process.stdout.write(`${predictionTable(file, prediction)}\n\n`);
          } catch (error) {
            if (!(error instanceof ModelError)) throw error;
            failed++;
            if (flags.json) results.push(errorJson(file, error));
            else process.stderr.write(`${prefix}: ${file}: ${describeCallError(error)}\n`);
          }
        }
      });
      if (flags.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
      if (failed > 0) throw new CliError(ExitCode.CALL_FAILED, ''); // each failure is already reported
    });
}

/** The warning a person needs above the tables when the server runs random weights (GetMetadata says which). */
async function weightsNote(client: ModelClient): Promise<string | undefined> {
  try {
    const { runtime } = await client.getMetadata();
    return runtime ? notPretrainedNote(runtime) : undefined;
  } catch (error) {
    // A server without GetMetadata still classifies; the tables go on without the note.
    if (error instanceof ModelError) return undefined;
    throw error;
  }
}
