/**
 * VPP's `http static server …` command, as in the seed's startup.conf:
 *
 *   http static server www-root /www uri tcp://0.0.0.0/80 cache-size 512m
 *
 * `parseHttpStaticServerCommand` takes the words after `http static server`. Keyword/value pairs
 * come in any order; `www-root` is required; `uri` defaults to tcp://0.0.0.0/80 and `cache-size`
 * to 10m. Errors say what was wrong and what is valid.
 */
import { parseIpv4 } from '../wire/address.js';

export interface HttpStaticServerCommand {
  wwwRoot: string;
  /** Dotted-quad IPv4 address to listen on (0.0.0.0 = every address of the dataplane). */
  address: string;
  port: number;
  cacheSizeBytes: number;
  /** Optional limits (our extension of VPP's syntax): seconds a request head may take, and a keep-alive connection may idle. */
  headerTimeoutMs?: number;
  idleTimeoutMs?: number;
}

export const HTTP_STATIC_SERVER_SYNTAX =
  'http static server www-root <dir> [uri tcp://<a.b.c.d>/<port>] [cache-size <n>[k|m|g]] [header-timeout <s>] [idle-timeout <s>]';

const DEFAULT_ADDRESS = '0.0.0.0';
const DEFAULT_PORT = 80;
const DEFAULT_CACHE_SIZE = 10 * 1024 * 1024;

export function parseHttpStaticServerCommand(words: string[]): HttpStaticServerCommand {
  let wwwRoot: string | undefined;
  let address = DEFAULT_ADDRESS;
  let port = DEFAULT_PORT;
  let cacheSizeBytes = DEFAULT_CACHE_SIZE;
  let headerTimeoutMs: number | undefined;
  let idleTimeoutMs: number | undefined;
  const seen = new Set<string>();

  for (let i = 0; i < words.length; i += 2) {
    const keyword = words[i]!;
    const value = words[i + 1];
    if (!KEYWORDS.has(keyword)) {
      throw new Error(
        `unknown option '${keyword}': valid options are www-root <dir>, uri tcp://<addr>/<port>, cache-size <n>[kmg], header-timeout <s>, idle-timeout <s> (syntax: ${HTTP_STATIC_SERVER_SYNTAX})`,
      );
    }
    if (value === undefined) throw new Error(`'${keyword}' needs a value (syntax: ${HTTP_STATIC_SERVER_SYNTAX})`);
    if (seen.has(keyword)) throw new Error(`'${keyword}' given twice`);
    seen.add(keyword);
    switch (keyword) {
      case 'www-root':
        if (!value.startsWith('/')) throw new Error(`www-root must be an absolute directory path such as /www, not '${value}'`);
        if (value.includes('\0')) throw new Error('www-root must not contain NUL');
        wwwRoot = value;
        break;
      case 'uri': {
        const uri = parseUri(value);
        address = uri.address;
        port = uri.port;
        break;
      }
      case 'cache-size':
        cacheSizeBytes = parseSize(value);
        break;
      case 'header-timeout':
        headerTimeoutMs = parseSeconds(keyword, value);
        break;
      case 'idle-timeout':
        idleTimeoutMs = parseSeconds(keyword, value);
        break;
    }
  }
  if (wwwRoot === undefined) throw new Error(`www-root <dir> is required (syntax: ${HTTP_STATIC_SERVER_SYNTAX})`);
  const command: HttpStaticServerCommand = { wwwRoot, address, port, cacheSizeBytes };
  if (headerTimeoutMs !== undefined) command.headerTimeoutMs = headerTimeoutMs;
  if (idleTimeoutMs !== undefined) command.idleTimeoutMs = idleTimeoutMs;
  return command;
}

const KEYWORDS = new Set(['www-root', 'uri', 'cache-size', 'header-timeout', 'idle-timeout']);

function parseSeconds(keyword: string, value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0 || Number(value) > 86400) {
    throw new Error(`${keyword} must be a number of seconds between 0 and 86400, not '${value}'`);
  }
  return Math.round(Number(value) * 1000);
}

function parseUri(value: string): { address: string; port: number } {
  const bad = (): Error =>
    new Error(`uri must look like tcp://0.0.0.0/80 (tcp://<IPv4 address>/<port 1-65535>), not '${value}'`);
  const prefix = 'tcp://';
  if (value.slice(0, prefix.length).toLowerCase() !== prefix) throw bad();
  const rest = value.slice(prefix.length);
  const slash = rest.indexOf('/');
  if (slash < 0) throw bad();
  const address = rest.slice(0, slash);
  const portText = rest.slice(slash + 1);
  if (parseIpv4(address) === null) throw bad();
  if (!/^[0-9]{1,5}$/.test(portText)) throw bad();
  const port = Number(portText);
  if (port < 1 || port > 65535) throw bad();
  return { address, port };
}


/** `512m`, `64k`, `1g`, `1048576` (bytes); suffixes are powers of 1024, either case; `kb`/`mb`/`gb` too. */
export function parseSize(value: string): number {
  const m = /^([0-9]+)([kmg]?)b?$/i.exec(value);
  const bad = new Error(`cache-size must be a number of bytes with an optional k, m or g suffix (e.g. 10m, 512m, 1g), not '${value}'`);
  if (m === null) throw bad;
  const n = Number(m[1]);
  const unit = m[2]!.toLowerCase();
  const mult = unit === 'k' ? 1024 : unit === 'm' ? 1024 * 1024 : unit === 'g' ? 1024 * 1024 * 1024 : 1;
  const bytes = n * mult;
  if (!Number.isSafeInteger(bytes)) throw bad;
  return bytes;
}
