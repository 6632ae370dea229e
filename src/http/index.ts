/** The HTTP static server module: server, command parser, Node `net` adapter, byte-stream contract. */
export * from './stream.js';
export * from './server.js';
export * from './command.js';
export * from './node-net-adapter.js';
export * from './show.js';
export type { CacheStats } from './cache.js';
