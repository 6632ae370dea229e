/**
 * Loads the native addon (build/Release/af_packet.node, native/af_packet.c) once. It lives in
 * the lowest layer because besides the AF_PACKET socket (src/io/af-packet.ts) it has two byte
 * helpers the whole data path uses (bytes.ts, checksum.ts): a copy that allocates nothing and
 * the Internet checksum sum.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ADDON_RELATIVE = join('build', 'Release', 'af_packet.node');

/** The package root: the nearest ancestor of this module holding package.json and binding.gyp. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'binding.gyp'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the vpp-server package root (package.json + binding.gyp)');
    dir = up;
  }
}

let addon: unknown;

/** Loads the addon once; a clear error (code ERR_AF_PACKET_NOT_BUILT) if it was not built. */
export function loadAddon<T>(): T {
  if (addon !== undefined) return addon as T;
  const root = packageRoot();
  const path = join(root, ADDON_RELATIVE);
  if (!existsSync(path)) {
    const err = new Error(
      `the AF_PACKET addon ${path} is not built: run "make build" in ${root} ` +
        '(it needs make, g++ and python3; "npm run build:native" builds just the addon)',
    ) as Error & { code: string };
    err.code = 'ERR_AF_PACKET_NOT_BUILT';
    throw err;
  }
  const require = createRequire(join(root, 'package.json'));
  addon = require(path);
  return addon as T;
}

/**
 * Another addon of this package (build/Release/<name>.node), or undefined when it is not built or
 * does not load (e.g. the TLS engine on a Node whose binary does not export OpenSSL's symbols).
 */
export function tryLoadPackageAddon<T>(name: string): T | undefined {
  try {
    const root = packageRoot();
    const path = join(root, 'build', 'Release', `${name}.node`);
    if (!existsSync(path)) return undefined;
    return createRequire(join(root, 'package.json'))(path) as T;
  } catch {
    return undefined;
  }
}

/** The addon, or undefined when it is not built (callers then use their JS fallback). */
export function tryLoadAddon<T>(): T | undefined {
  try {
    return loadAddon<T>();
  } catch {
    return undefined;
  }
}
