/** Image files named on the command line: read them, or expand folders to the image files inside. */
import { access, constants, readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { CliError, describeFileError, ExitCode } from './exit.js';

/** Extensions taken from a folder; files named one by one are sent whatever their name. */
const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.gif', '.webp', '.tif', '.tiff', '.bmp']);

export async function readInputFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new CliError(ExitCode.FILE, `${path}: ${describeFileError(error)}`, { cause: error });
  }
}

/** Fails on the first file that is missing or unreadable, so a typo stops a run before any call. */
export async function assertReadable(paths: readonly string[]): Promise<void> {
  for (const path of paths) {
    try {
      if ((await stat(path)).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      await access(path, constants.R_OK);
    } catch (error) {
      throw new CliError(ExitCode.FILE, `${path}: ${describeFileError(error)}`, { cause: error });
    }
  }
}

/** Files as given, folders replaced by their image files (sorted by name); fails if a path is missing or empty. */
export async function expandImagePaths(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    let isDirectory: boolean;
    try {
      isDirectory = (await stat(path)).isDirectory();
    } catch (error) {
      throw new CliError(ExitCode.FILE, `${path}: ${describeFileError(error)}`, { cause: error });
    }
    if (!isDirectory) {
      files.push(path);
      continue;
    }
    const entries = await readdir(path, { withFileTypes: true }).catch((error: unknown) => {
      throw new CliError(ExitCode.FILE, `${path}: ${describeFileError(error)}`, { cause: error });
    });
    const images = entries
      .filter((entry) => entry.isFile() && IMAGE_EXTENSIONS.has(extname(entry.name).toLowerCase()))
      .map((entry) => entry.name)
      .sort();
    if (images.length === 0)
      throw new CliError(ExitCode.FILE, `${path}: no image files (${[...IMAGE_EXTENSIONS].join(' ')})`);
    files.push(...images.map((name) => join(path, name)));
  }
  return files;
}
