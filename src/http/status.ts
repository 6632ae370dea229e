/**
 * What the server says besides files: the status texts of its status lines, the short text
 * bodies of its error (and redirect) responses, the methods it knows but refuses, and the error
 * counters it keeps. Shared by HTTP/1.1 (server.ts) and HTTP/2 (h2.ts).
 */

/** The node name under which the server's error counters appear in `show errors`. */
export const HTTP_STATIC_SERVER_NODE = 'http-static-server';

/** Every error counter the server keeps, with the text `show errors` prints for it. */
export const HTTP_ERROR_REASONS: Readonly<Record<string, string>> = {
  'bad-request': 'malformed request line or header (400)',
  'bad-uri': 'malformed request target (400)',
  'bad-host': 'missing or repeated Host header (400)',
  'uri-too-long': 'request line too long (414)',
  'headers-too-large': 'request head too large (431)',
  'too-many-headers': 'too many header fields (431)',
  'method-not-allowed': 'method not allowed (405)',
  'not-implemented': 'method or transfer coding not implemented (501)',
  'version-not-supported': 'HTTP version not supported (505)',
  'body-too-large': 'request body too large (413)',
  'not-found': 'file not found (404)',
  'path-escape': 'target tries to leave www-root (404)',
  'symlink-escape': 'symlink resolves outside www-root (404)',
  'not-regular-file': 'not a regular file (404)',
  'range-not-satisfiable': 'range not satisfiable (416)',
  'io-error': 'file read error (500)',
  'header-timeout': 'request head not received in time',
  'idle-timeout': 'keep-alive connection idle too long',
  'send-timeout': 'peer stopped reading',
  'send-rate-too-low': 'peer reads below the minimum send rate (min-send-bytes per min-send-window)',
  'linger-timeout': 'peer did not close after our FIN',
  'pipeline-overflow': 'too many pipelined bytes buffered',
  'closed-mid-response': 'connection closed before its responses were sent',
  'redirect-to-https': 'redirected to HTTPS (301, redirect-to-https)',
};

export const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  206: 'Partial Content',
  301: 'Moved Permanently',
  304: 'Not Modified',
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  416: 'Range Not Satisfiable',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  505: 'HTTP Version Not Supported',
};

/** Methods defined by RFC 9110 / 5789 that we know but do not allow (405 rather than 501). */
export const KNOWN_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

const bodies = new Map<number, Buffer>();
/** The short text body of an error (or redirect) response, shared by HTTP/1.1 and HTTP/2. */
export function bodyFor(status: number): Buffer {
  let b = bodies.get(status);
  if (b === undefined) {
    b = Buffer.from(`${status} ${STATUS_TEXT[status] ?? ''}\n`, 'latin1');
    bodies.set(status, b);
  }
  return b;
}
