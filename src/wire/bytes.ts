/**
 * Copying bytes on the data path without allocating.
 *
 * On Node 20, `Buffer#copy` of a sub-range (and `set(subarray())`) creates a Uint8Array view per
 * call: garbage for the scavenger on every TCP segment, forwarded frame and ping reply. These
 * helpers make none: small copies (MACs, headers) are byte loops, larger ones one memmove in the
 * addon. Measured on Node 20 (x86-64, 2M calls each; docs/bench.md "Zero allocation"):
 *
 * | bytes | Buffer#copy            | copyBytes (native)  | byte loop |
 * |-------|------------------------|---------------------|-----------|
 * | 6     | 55 ns, 198 scavenges   | 73 ns, 0            | 4 ns      |
 * | 1448  | 75 ns, 98 scavenges    | 92 ns, 0            | ~1 µs     |
 *
 * Without the addon (not built) the copy falls back to Buffer#copy.
 */
import { tryLoadAddon } from './addon.js';

interface ByteAddon {
  copyBytes(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, len: number): void;
}

const native = tryLoadAddon<ByteAddon>();
const nativeCopy = native?.copyBytes;

/** Below this many bytes a JS byte loop beats the N-API call. */
const LOOP_MAX = 24;

/** Copies src[srcOff .. srcOff+len) to dst[dstOff ..] (ranges must lie inside both buffers; may overlap). */
export function copyBytes(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, len: number): void {
  if (len <= LOOP_MAX && (dst !== src || dstOff <= srcOff || dstOff >= srcOff + len)) {
    for (let k = 0; k < len; k++) dst[dstOff + k] = src[srcOff + k];
    return;
  }
  if (nativeCopy !== undefined) nativeCopy(dst, dstOff, src, srcOff, len);
  else (src as Buffer).copy(dst, dstOff, srcOff, srcOff + len);
}

/** Copies a 6-byte MAC address. */
export function copyMac(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number): void {
  dst[dstOff] = src[srcOff];
  dst[dstOff + 1] = src[srcOff + 1];
  dst[dstOff + 2] = src[srcOff + 2];
  dst[dstOff + 3] = src[srcOff + 3];
  dst[dstOff + 4] = src[srcOff + 4];
  dst[dstOff + 5] = src[srcOff + 5];
}

/**
 * A 32-bit big-endian field as a signed integer: how the TCP stack holds sequence numbers and
 * timestamps, and the per-packet paths IPv4 addresses (a V8 small integer; an unsigned value
 * ≥ 2^31 would be a heap number wherever it crosses a call, see src/tcp/seq.ts).
 */
export const readInt32 = (b: Uint8Array, o: number): number => (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];

/**
 * Writes a 32-bit big-endian field from a signed or unsigned value, byte by byte: no call into
 * Buffer#writeUInt32BE (whose range check takes a heap number for an unsigned value ≥ 2^31).
 */
export function write32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/*
 * 16- and 32-bit big-endian fields byte by byte, for the per-packet paths. A call such as
 * `buf.readUInt16BE(o)` first loads the method from Buffer.prototype, and Node 20's optimising
 * compiler, which runs on a background thread, does not fold that load into a constant: the
 * optimised code calls the generic LoadIC builtin (Builtins_LoadIC / LoadICTrampoline in a
 * profile) at every such site, every packet. Element loads and stores on the Buffer are inlined.
 * The caller keeps `o` inside the buffer (Buffer's methods would throw past its end) and, for
 * the writers, `v` inside the field (they store its low 16 bits, Buffer's would throw).
 */

/** A 16-bit big-endian field (what Buffer#readUInt16BE returns). */
export const read16 = (b: Uint8Array, o: number): number => (b[o] << 8) | b[o + 1];

/** A 32-bit big-endian field, unsigned (what Buffer#readUInt32BE returns). */
export const readUint32 = (b: Uint8Array, o: number): number => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;

/** Writes a 16-bit big-endian field (as Buffer#writeUInt16BE for 0 ≤ v ≤ 0xffff). */
export function write16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
