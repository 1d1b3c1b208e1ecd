/** Structured JSON logs (pino) to stdout; one logger per process, children per component. */
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config.js';

export type { Logger };

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino({ name: 'xception', level, base: { pid: process.pid } }, destination);
}
