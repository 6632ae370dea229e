/**
 * VPP's `http static server …` command, as in the seed's startup.conf, and VPP 25.06's
 * `http static listener add …`, which adds a listener (e.g. HTTPS beside HTTP) to that server:
 *
 *   http static server www-root /www uri tcp://0.0.0.0/80 cache-size 512m
 *   http static listener add uri tls://0.0.0.0/443 cert /tls/tls.crt key /tls/tls.key
 *
 * `parseHttpStaticServerCommand` takes the words after `http static server`,
 * `parseHttpListenerAddCommand` those after `http static listener add`. Keyword/value pairs come
 * in any order; flags (`redirect-to-https`, `http1-only`) stand alone. Errors say what was wrong
 * and what is valid.
 *
 * URIs are `tcp://<address>/<port>` (HTTP, and h2c with prior knowledge) or `tls://<address>/<port>`
 * (HTTPS with ALPN h2 / http/1.1). The address is parsed for either family (`0.0.0.0`,
 * `192.0.2.1`, `::`, `2001:db8::1`, also in brackets); the services decide which they serve.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { parseIpv4 } from '../wire/address.js';

export type Transport = 'tcp' | 'tls';

/** One listening endpoint of a static server. */
export interface HttpListenerCommand {
  transport: Transport;
  /** The address as written (brackets removed); 0.0.0.0 / :: = every address of the dataplane. */
  address: string;
  family: 4 | 6;
  port: number;
  /** tls only: PEM certificate chain and key; both absent = a self-signed certificate per process. */
  certFile?: string;
  keyFile?: string;
  /** tcp only (our extension): answer every GET/HEAD with a 301 to https://<host>[:<tls port>]/<path>. */
  redirectToHttps?: boolean;
}

export interface HttpStaticServerCommand extends HttpListenerCommand {
  wwwRoot: string;
  cacheSizeBytes: number;
  /** Optional limits (our extension of VPP's syntax): seconds a request head may take, and a keep-alive connection may idle. */
  headerTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** No HTTP/2 (neither ALPN h2 nor h2c), as VPP 25.06's http1-only. */
  http1Only?: boolean;
}

export const HTTP_STATIC_SERVER_SYNTAX =
  'http static server www-root <dir> [uri tcp://<addr>/<port> | uri tls://<addr>/<port> [cert <file> key <file>]] [cache-size <n>[k|m|g]] [header-timeout <s>] [idle-timeout <s>] [redirect-to-https] [http1-only]';

export const HTTP_LISTENER_ADD_SYNTAX = 'http static listener add uri tcp://<addr>/<port> | uri tls://<addr>/<port> [cert <file> key <file>] [redirect-to-https]';

const DEFAULT_ADDRESS = '0.0.0.0';
const DEFAULT_PORT = 80;
const DEFAULT_CACHE_SIZE = 10 * 1024 * 1024;

const SERVER_KEYWORDS = new Set(['www-root', 'uri', 'cache-size', 'header-timeout', 'idle-timeout', 'cert', 'key']);
const SERVER_FLAGS = new Set(['redirect-to-https', 'http1-only']);
const LISTENER_KEYWORDS = new Set(['uri', 'cert', 'key']);
const LISTENER_FLAGS = new Set(['redirect-to-https']);

function readWords(words: string[], keywords: Set<string>, flags: Set<string>, syntax: string, valid: string): Map<string, string> {
  const seen = new Map<string, string>();
  for (let i = 0; i < words.length; i++) {
    const keyword = words[i]!;
    if (flags.has(keyword)) {
      if (seen.has(keyword)) throw new Error(`'${keyword}' given twice`);
      seen.set(keyword, '');
      continue;
    }
    if (!keywords.has(keyword)) throw new Error(`unknown option '${keyword}': valid options are ${valid} (syntax: ${syntax})`);
    const value = words[i + 1];
    if (value === undefined) throw new Error(`'${keyword}' needs a value (syntax: ${syntax})`);
    if (seen.has(keyword)) throw new Error(`'${keyword}' given twice`);
    seen.set(keyword, value);
    i++;
  }
  return seen;
}

function absoluteFile(keyword: string, value: string): string {
  if (!value.startsWith('/')) throw new Error(`${keyword} must be an absolute file path such as /tls/tls.crt, not '${value}'`);
  if (value.includes('\0')) throw new Error(`${keyword} must not contain NUL`);
  return value;
}

/** The listener part shared by both commands: uri, cert/key, redirect-to-https, and their rules. */
function listenerFrom(seen: Map<string, string>, defaultUri: string | null, syntax: string): HttpListenerCommand {
  const uriText = seen.get('uri') ?? defaultUri;
  if (uriText === null) throw new Error(`uri <uri> is required (syntax: ${syntax})`);
  const uri = parseListenUri(uriText);
  const listener: HttpListenerCommand = { ...uri };
  const cert = seen.get('cert');
  const key = seen.get('key');
  if ((cert !== undefined || key !== undefined) && uri.transport !== 'tls') {
    throw new Error(`cert and key apply to a tls:// uri only (this one is ${uriText})`);
  }
  if ((cert === undefined) !== (key === undefined)) throw new Error(`cert <file> and key <file> go together (syntax: ${syntax})`);
  if (cert !== undefined && key !== undefined) {
    listener.certFile = absoluteFile('cert', cert);
    listener.keyFile = absoluteFile('key', key);
  }
  if (seen.has('redirect-to-https')) {
    if (uri.transport !== 'tcp') throw new Error('redirect-to-https applies to a tcp:// uri (the cleartext listener that sends clients to HTTPS)');
    listener.redirectToHttps = true;
  }
  return listener;
}

export function parseHttpStaticServerCommand(words: string[]): HttpStaticServerCommand {
  const valid =
    'www-root <dir>, uri tcp://<addr>/<port>, uri tls://<addr>/<port>, cert <file>, key <file>, cache-size <n>[kmg], header-timeout <s>, idle-timeout <s>, redirect-to-https, http1-only';
  const seen = readWords(words, SERVER_KEYWORDS, SERVER_FLAGS, HTTP_STATIC_SERVER_SYNTAX, valid);
  const wwwRoot = seen.get('www-root');
  if (wwwRoot === undefined) throw new Error(`www-root <dir> is required (syntax: ${HTTP_STATIC_SERVER_SYNTAX})`);
  if (!wwwRoot.startsWith('/')) throw new Error(`www-root must be an absolute directory path such as /www, not '${wwwRoot}'`);
  if (wwwRoot.includes('\0')) throw new Error('www-root must not contain NUL');
  const listener = listenerFrom(seen, `tcp://${DEFAULT_ADDRESS}/${DEFAULT_PORT}`, HTTP_STATIC_SERVER_SYNTAX);
  const size = seen.get('cache-size');
  const command: HttpStaticServerCommand = {
    wwwRoot,
    ...listener,
    cacheSizeBytes: size === undefined ? DEFAULT_CACHE_SIZE : parseSize(size),
  };
  const ht = seen.get('header-timeout');
  if (ht !== undefined) command.headerTimeoutMs = parseSeconds('header-timeout', ht);
  const it = seen.get('idle-timeout');
  if (it !== undefined) command.idleTimeoutMs = parseSeconds('idle-timeout', it);
  if (seen.has('http1-only')) command.http1Only = true;
  return command;
}

/** The words after `http static listener add`. */
export function parseHttpListenerAddCommand(words: string[]): HttpListenerCommand {
  const seen = readWords(words, LISTENER_KEYWORDS, LISTENER_FLAGS, HTTP_LISTENER_ADD_SYNTAX, 'uri <uri>, cert <file>, key <file>, redirect-to-https');
  return listenerFrom(seen, null, HTTP_LISTENER_ADD_SYNTAX);
}

function parseSeconds(keyword: string, value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0 || Number(value) > 86400) {
    throw new Error(`${keyword} must be a number of seconds between 0 and 86400, not '${value}'`);
  }
  return Math.round(Number(value) * 1000);
}

/**
 * `tcp://0.0.0.0/80`, `tls://192.0.2.1/443`, `tls://::/443`, `tcp://[2001:db8::1]/80`: the
 * transport, the address of either family and the port (1-65535). The port follows the last '/'.
 */
export function parseListenUri(value: string): { transport: Transport; address: string; family: 4 | 6; port: number } {
  const bad = (): Error =>
    new Error(`uri must look like tcp://0.0.0.0/80 or tls://0.0.0.0/443 (tcp:// or tls://, an IPv4 or IPv6 address, /, a port 1-65535), not '${value}'`);
  const m = /^(tcp|tls):\/\//i.exec(value);
  if (m === null) throw bad();
  const transport = m[1]!.toLowerCase() as Transport;
  const rest = value.slice(m[0].length);
  const slash = rest.lastIndexOf('/');
  if (slash < 0) throw bad();
  let address = rest.slice(0, slash);
  const portText = rest.slice(slash + 1);
  if (address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1);
  let family: 4 | 6;
  if (isIPv4(address) && parseIpv4(address) !== null) family = 4;
  else if (isIPv6(address) && !address.includes('%')) family = 6;
  else throw bad();
  if (!/^[0-9]{1,5}$/.test(portText)) throw bad();
  const port = Number(portText);
  if (port < 1 || port > 65535) throw bad();
  return { transport, address, family, port };
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
