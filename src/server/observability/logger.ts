/**
 * Logs (pino), one logger per process, children per component. JSON lines on stdout for log collectors; on a
 * terminal, the same records as short human lines instead.
 */
import { pino, type Logger } from 'pino';
import type { Writable } from 'node:stream';
import type { LogLevel } from '../config.js';

export type { Logger };

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino({ name: 'xception', level, base: { pid: process.pid } }, destination);
}

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
/** Fields every record has, or that the line shows otherwise. */
const SHOWN_APART = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg']);

/** One pino record as "12:04:05 WARN  message  key=value …"; an error as its message, without the stack. */
export function humanLine(record: Record<string, unknown>): string {
  const time = new Date(Number(record.time)).toTimeString().slice(0, 8);
  const level = (LEVEL_NAMES[Number(record.level)] ?? String(record.level)).padEnd(5);
  const fields = Object.entries(record)
    .filter(([key]) => !SHOWN_APART.has(key))
    .map(([key, value]) => `${key}=${fieldText(value)}`);
  return [`${time} ${level} ${record.msg ?? ''}`, ...fields].join('  ');
}

function fieldText(value: unknown): string {
  if (value && typeof value === 'object' && 'message' in value && 'stack' in value)
    return JSON.stringify((value as Error).message);
  if (typeof value === 'string') return /[\s"=]/.test(value) || value === '' ? JSON.stringify(value) : value;
  return JSON.stringify(value);
}

export interface TerminalLog extends pino.DestinationStream {
  /** Print the lines held so far, and every later one as it comes. */
  release(): void;
  /** Drop the lines held so far and every later one: the process reports its failure itself and exits. */
  close(): void;
}

/**
 * The destination for a terminal: human lines, held back until `release()` — so that a server that cannot start shows
 * its one-line reason alone, not a "listening" line first.
 */
export function terminalLog(stream: Writable): TerminalLog {
  let state: 'holding' | 'open' | 'closed' = 'holding';
  const held: string[] = [];
  return {
    write(line: string) {
      if (state === 'closed') return;
      const text = `${humanLine(JSON.parse(line) as Record<string, unknown>)}\n`;
      if (state === 'open') stream.write(text);
      else held.push(text);
    },
    release() {
      if (state !== 'holding') return;
      state = 'open';
      for (const text of held.splice(0)) stream.write(text);
    },
    close() {
      state = 'closed';
      held.length = 0;
    },
  };
}
