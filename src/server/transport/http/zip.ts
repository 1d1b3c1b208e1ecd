/**
 * A minimal ZIP writer: files stored uncompressed (the weights do not compress), streamed from disk so a large
 * weights file never sits in memory whole. CRCs are computed in a first pass so every header is exact and no data
 * descriptors are needed. Plain ZIP, not ZIP64: each file and the whole archive must stay under 4 GiB.
 * (The streaming ZIP libraries — yazl, fflate, archiver — leave each local header's CRC empty and write it in a data
 * descriptor after the data instead.)
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';

export interface ZipSource {
  /** Name inside the archive, with forward slashes. */
  readonly name: string;
  readonly path: string;
}

interface Entry extends ZipSource {
  readonly size: number;
  readonly crc: number;
  readonly mtime: Date;
}

const ZIP32_MAX = 0xffff_ffff;
const UTF8_NAMES = 0x0800;
const VERSION = 20;
/** "Made by" Unix (3) so the external attributes carry a regular file's mode, 0644. */
const MADE_BY_UNIX = (3 << 8) | VERSION;
const FILE_MODE = 0o100644;

async function describe(source: ZipSource): Promise<Entry> {
  const { size, mtime } = await stat(source.path);
  if (size > ZIP32_MAX) throw new Error(`${source.path} is too large for a plain ZIP (${size} bytes)`);
  let crc = 0;
  for await (const chunk of createReadStream(source.path)) crc = crc32(chunk as Buffer, crc);
  return { ...source, size, crc, mtime };
}

function dosDateTime(date: Date): { time: number; date: number } {
  const year = Math.max(1980, date.getFullYear());
  return {
    time: (date.getHours() << 11) | (date.getMinutes() << 5) | (date.getSeconds() >> 1),
    date: ((year - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate(),
  };
}

function localHeader(entry: Entry, name: Buffer): Buffer {
  const { time, date } = dosDateTime(entry.mtime);
  const header = Buffer.alloc(30);
  header.writeUInt32LE(0x04034b50, 0);
  header.writeUInt16LE(VERSION, 4);
  header.writeUInt16LE(UTF8_NAMES, 6);
  header.writeUInt16LE(0, 8); // stored
  header.writeUInt16LE(time, 10);
  header.writeUInt16LE(date, 12);
  header.writeUInt32LE(entry.crc, 14);
  header.writeUInt32LE(entry.size, 18);
  header.writeUInt32LE(entry.size, 22);
  header.writeUInt16LE(name.length, 26);
  header.writeUInt16LE(0, 28);
  return Buffer.concat([header, name]);
}

function centralHeader(entry: Entry, name: Buffer, offset: number): Buffer {
  const { time, date } = dosDateTime(entry.mtime);
  const header = Buffer.alloc(46);
  header.writeUInt32LE(0x02014b50, 0);
  header.writeUInt16LE(MADE_BY_UNIX, 4);
  header.writeUInt16LE(VERSION, 6);
  header.writeUInt16LE(UTF8_NAMES, 8);
  header.writeUInt16LE(0, 10);
  header.writeUInt16LE(time, 12);
  header.writeUInt16LE(date, 14);
  header.writeUInt32LE(entry.crc, 16);
  header.writeUInt32LE(entry.size, 20);
  header.writeUInt32LE(entry.size, 24);
  header.writeUInt16LE(name.length, 28);
  // extra, comment, disk, internal attributes: 0
  header.writeUInt32LE((FILE_MODE << 16) >>> 0, 38);
  header.writeUInt32LE(offset, 42);
  return Buffer.concat([header, name]);
}

function endOfCentralDirectory(count: number, size: number, offset: number): Buffer {
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(count, 8);
  end.writeUInt16LE(count, 10);
  end.writeUInt32LE(size, 12);
  end.writeUInt32LE(offset, 16);
  return end;
}

/** The archive's exact length, known before streaming, for Content-Length. */
function archiveSize(entries: readonly Entry[]): number {
  return entries.reduce((sum, e) => sum + 30 + 46 + 2 * Buffer.byteLength(e.name) + e.size, 0) + 22;
}

/** Reads every file once for its CRC, then returns the archive as a stream and its length. */
export async function zipFiles(sources: readonly ZipSource[]): Promise<{ stream: Readable; size: number }> {
  const entries: Entry[] = [];
  for (const source of sources) entries.push(await describe(source));
  const size = archiveSize(entries);
  if (size > ZIP32_MAX || entries.length > 0xffff) throw new Error('archive too large for a plain ZIP');

  async function* chunks(): AsyncGenerator<Buffer> {
    const central: Buffer[] = [];
    let offset = 0;
    for (const entry of entries) {
      const name = Buffer.from(entry.name, 'utf8');
      central.push(centralHeader(entry, name, offset));
      const header = localHeader(entry, name);
      yield header;
      let written = 0;
      if (entry.size > 0) {
        for await (const chunk of createReadStream(entry.path, { start: 0, end: entry.size - 1 })) {
          written += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
      }
      // A file that shrank while being sent would corrupt every offset after it: fail the download instead.
      if (written !== entry.size) throw new Error(`${entry.path} changed while being archived`);
      offset += header.length + entry.size;
    }
    const directory = Buffer.concat(central);
    yield directory;
    yield endOfCentralDirectory(entries.length, directory.length, offset);
  }
  return { stream: Readable.from(chunks(), { objectMode: false }), size };
}
