/** The server as a library: `import { startServer, parseServerConfig } from 'xception/server'`. */
export {
  addServerOptions,
  parseServerConfig,
  resolveServerConfig,
  serverConfigSchema,
  type EngineChoice,
  type LogLevel,
  type ServerConfig,
} from './config.js';
export { createLogger, type Logger } from './observability/logger.js';
export { run, serve } from './run.js';
export { startServer, VERSION, type RunningServer } from './server.js';
