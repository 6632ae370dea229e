/** The HTTP static server module: server, command parser, adapters, TLS and HTTP/2. */
export type * from '../stream/byte-stream.js';
export * from './server.js';
export * from './options.js';
export * from './status.js';
export * from './conditional.js';
export * from './command.js';
export * from './node-net-adapter.js';
export * from './duplex.js';
export * from './show.js';
export * from './h2.js';
export * from './cleartext.js';
export * from './tls-listener.js';
export * from './tls-credentials.js';
export * from './pair-watcher.js';
export type { CacheStats } from './cache.js';
