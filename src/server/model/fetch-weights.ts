/**
 * Downloads Keras' ImageNet weights for Xception, verifying their MD5 as they stream in. The file is written to
 * `<dest>.partial` and renamed only once verified, so `dest` never holds a truncated or corrupt download.
 */

import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { pipeline } from 'node:stream/promises';

/** Keras' own copy, the file `keras.applications.Xception(weights='imagenet')` downloads. */
export const XCEPTION_WEIGHTS_URL =
  'https://storage.googleapis.com/tensorflow/keras-applications/xception/xception_weights_tf_dim_ordering_tf_kernels.h5';
/** The MD5 Keras checks that file against (file_hash in keras/applications/xception.py). */
export const XCEPTION_WEIGHTS_MD5 = '0a58e3b7378bc2990ea3b43d5981f1f6';

export interface DownloadProgress {
  readonly receivedBytes: number;
  /** From Content-Length; undefined when the server does not say. */
  readonly totalBytes?: number;
  /** True on the last call, once the download has ended (successfully or not). */
  readonly done: boolean;
}

export interface FetchWeightsOptions {
  readonly url?: string;
  /** Expected hex MD5 of the file. */
  readonly md5?: string;
  /** Where the verified file ends up. */
  readonly dest: string;
  readonly onProgress?: (progress: DownloadProgress) => void;
  readonly signal?: AbortSignal;
}

export interface FetchedWeights {
  readonly path: string;
  readonly bytes: number;
  readonly md5: string;
}

export class FetchWeightsError extends Error {
  override readonly name = 'FetchWeightsError';
}

/** Network-level failures that mean the host was not reachable at all (as opposed to answering with an error). */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'ECONNRESET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

/** The system error code behind a failed fetch (Node's fetch wraps it as TypeError('fetch failed', { cause })). */
function errorCode(error: unknown): string | undefined {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (typeof e.code === 'string') return e.code;
    if (e.cause === e) break;
  }
  return undefined;
}

function byHand(url: string, md5: string, dest: string): string {
  return `To place the file by hand, download ${url} on a machine with access, check its MD5 is ${md5}, and copy it to ${dest}.`;
}

/** Downloads `url` to `dest`, verifying its MD5; resolves with the verified file's path, size and MD5. */
export async function fetchWeights(options: FetchWeightsOptions): Promise<FetchedWeights> {
  const { url = XCEPTION_WEIGHTS_URL, dest, onProgress, signal } = options;
  const expectedMd5 = (options.md5 ?? XCEPTION_WEIGHTS_MD5).toLowerCase();
  const partial = `${dest}.partial`;
  const host = new URL(url).host;

  let response: Response;
  try {
    response = await fetch(url, { signal });
  } catch (error) {
    if (signal?.aborted) throw error;
    const code = errorCode(error) ?? (error as Error).message;
    const reason = UNREACHABLE_CODES.has(code)
      ? `could not reach ${host} (${code})`
      : `request to ${host} failed (${code})`;
    throw new FetchWeightsError(`${reason}. ${byHand(url, expectedMd5, dest)}`, { cause: error });
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new FetchWeightsError(
      `${url} answered HTTP ${response.status} ${response.statusText}. ${byHand(url, expectedMd5, dest)}`,
    );
  }

  const lengthHeader = response.headers.get('content-length');
  const totalBytes = lengthHeader !== null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
  const hash = createHash('md5');
  let receivedBytes = 0;
  await mkdir(dirname(dest), { recursive: true });
  try {
    await pipeline(
      Readable.fromWeb(response.body as WebReadableStream<Uint8Array>),
      async function* hashAndCount(source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          hash.update(chunk);
          receivedBytes += chunk.length;
          onProgress?.({ receivedBytes, totalBytes, done: false });
          yield chunk;
        }
      },
      createWriteStream(partial),
      { signal },
    );
  } catch (error) {
    await rm(partial, { force: true });
    onProgress?.({ receivedBytes, totalBytes, done: true });
    if (signal?.aborted) throw error;
    throw new FetchWeightsError(
      `download from ${host} broke off after ${receivedBytes} bytes (${errorCode(error) ?? (error as Error).message}); ` +
        `run it again. ${byHand(url, expectedMd5, dest)}`,
      { cause: error },
    );
  }
  onProgress?.({ receivedBytes, totalBytes, done: true });

  const md5 = hash.digest('hex');
  if (md5 !== expectedMd5) {
    await rm(partial, { force: true });
    throw new FetchWeightsError(
      `checksum mismatch for ${url}: expected MD5 ${expectedMd5}, the download (${receivedBytes} bytes) has ${md5}. ` +
        `Nothing was written to ${dest}.`,
    );
  }
  await rename(partial, dest);
  return { path: dest, bytes: receivedBytes, md5 };
}
