/**
 * Web content from a local directory, packed for a ConfigMap: one key per file (keys may not hold
 * '/', so the volume's `items` map each key back to its relative path), text as `data`, anything
 * else as `binaryData`. Deterministic: files sorted, keys derived from paths.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { listFiles } from './init.js';
import { ValueError } from './values.js';

export interface WwwFile {
  /** path relative to the web root, '/'-separated */
  path: string;
  /** ConfigMap key */
  key: string;
  content: Buffer;
  binary: boolean;
}

export interface WwwContent {
  /** the directory given, as given */
  dir: string;
  files: WwwFile[];
  /** sha256 over paths and contents: put on the pod template so new content rolls the pod */
  checksum: string;
}

/** Kubernetes refuses ConfigMaps over 1 MiB; leave room for metadata and base64. */
export const WWW_MAX_BYTES = 1024 * 1024 - 16 * 1024;

function isText(b: Buffer): boolean {
  if (b.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

function keyFor(path: string, used: Set<string>): string {
  const base = path.replace(/\//g, '__').replace(/[^-._a-zA-Z0-9]/g, '_').slice(0, 240) || 'file';
  let key = base;
  for (let i = 2; used.has(key); i++) key = `${base}-${i}`;
  used.add(key);
  return key;
}

/** Reads `dir` for the web-content ConfigMap; throws ValueError with what is wrong and what is valid. */
export function loadWwwDir(dir: string): WwwContent {
  if (!existsSync(dir)) throw new ValueError(`--www-dir ${JSON.stringify(dir)} does not exist: give a local directory holding the web content`);
  if (!statSync(dir).isDirectory()) throw new ValueError(`--www-dir ${JSON.stringify(dir)} is not a directory`);
  const paths = listFiles(dir);
  if (paths.length === 0) throw new ValueError(`--www-dir ${JSON.stringify(dir)} holds no files; leave the option out to serve the default index.html`);
  const used = new Set<string>();
  const files: WwwFile[] = [];
  let total = 0;
  const hash = createHash('sha256');
  for (const path of paths) {
    if (path.split('/').some((seg) => seg.startsWith('..'))) {
      throw new ValueError(`--www-dir: ${path}: names starting with '..' cannot be mounted from a ConfigMap; rename it`);
    }
    const content = readFileSync(`${dir}/${path}`);
    const binary = !isText(content);
    total += binary ? Math.ceil(content.length / 3) * 4 : content.length;
    files.push({ path, key: keyFor(path, used), content, binary });
    hash.update(path).update('\0').update(content).update('\0');
  }
  if (total > WWW_MAX_BYTES) {
    throw new ValueError(
      `--www-dir ${JSON.stringify(dir)} holds ${total} bytes (binary files count base64-encoded), more than the ${WWW_MAX_BYTES} ` +
        `a ConfigMap can carry (Kubernetes' limit is 1 MiB); bake larger content into the image or serve it from a volume`,
    );
  }
  return { dir, files, checksum: hash.digest('hex') };
}
