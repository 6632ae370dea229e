/**
 * A small keyed hash (ISNs and SYN cookies, RFC 6528; the IPv6 tables' hash): HalfSipHash-2-4
 * (32-bit words, 64-bit key) over four 32-bit message words, computed without allocation.
 * It only needs to be a keyed pseudo-random function here; the key comes from node:crypto.
 */
import { randomBytes } from 'node:crypto';

let v0 = 0;
let v1 = 0;
let v2 = 0;
let v3 = 0;

function round(): void {
  v0 = (v0 + v1) | 0;
  v1 = (v1 << 5) | (v1 >>> 27);
  v1 ^= v0;
  v0 = (v0 << 16) | (v0 >>> 16);
  v2 = (v2 + v3) | 0;
  v3 = (v3 << 8) | (v3 >>> 24);
  v3 ^= v2;
  v0 = (v0 + v3) | 0;
  v3 = (v3 << 7) | (v3 >>> 25);
  v3 ^= v0;
  v2 = (v2 + v1) | 0;
  v1 = (v1 << 13) | (v1 >>> 19);
  v1 ^= v2;
  v2 = (v2 << 16) | (v2 >>> 16);
}

function word(m: number): void {
  v3 ^= m;
  round();
  round();
  v0 ^= m;
}

/** Keyed 32-bit hash of four 32-bit words. */
export function hash4(k0: number, k1: number, a: number, b: number, c: number, d: number): number {
  v0 = k0 | 0;
  v1 = k1 | 0;
  v2 = (0x6c796765 ^ k0) | 0;
  v3 = (0x74656462 ^ k1) | 0;
  word(a | 0);
  word(b | 0);
  word(c | 0);
  word(d | 0);
  word(16 << 24);
  v2 ^= 0xff;
  round();
  round();
  round();
  round();
  return (v1 ^ v3) >>> 0;
}

/** A 64-bit key as two words, from `secret` (at least 8 bytes at `off`) or from node:crypto. */
export function makeKey(secret: Buffer | undefined, off: number): [number, number] {
  const b = secret && secret.length >= off + 8 ? secret : randomBytes(8);
  const o = b === secret ? off : 0;
  return [b.readUInt32LE(o) | 0, b.readUInt32LE(o + 4) | 0];
}

/**
 * HalfSipHash-1-3 of four words (one round per word, three to finish): the cheaper variant hash
 * tables use (as Linux's hsiphash and Rust's default hasher do). Enough against chosen
 * collisions while the key is secret; ISNs and cookies keep hash4 (2-4). Local variables and a
 * loop over the five message words keep it in registers (about 3x faster than module state).
 */
export function tableHash4(k0: number, k1: number, a: number, b: number, c: number, d: number): number {
  let v0 = k0 | 0;
  let v1 = k1 | 0;
  let v2 = (0x6c796765 ^ k0) | 0;
  let v3 = (0x74656462 ^ k1) | 0;
  for (let w = 0; w < 5; w++) {
    const m = w === 0 ? a : w === 1 ? b : w === 2 ? c : w === 3 ? d : 16 << 24;
    v3 ^= m;
    v0 = (v0 + v1) | 0;
    v1 = ((v1 << 5) | (v1 >>> 27)) ^ v0;
    v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0;
    v3 = ((v3 << 8) | (v3 >>> 24)) ^ v2;
    v0 = (v0 + v3) | 0;
    v3 = ((v3 << 7) | (v3 >>> 25)) ^ v0;
    v2 = (v2 + v1) | 0;
    v1 = ((v1 << 13) | (v1 >>> 19)) ^ v2;
    v2 = (v2 << 16) | (v2 >>> 16);
    v0 ^= m;
  }
  v2 ^= 0xff;
  // The same SipRound as in the loop above, written out again rather than called: a helper would
  // have to return four words (an allocation, or module state, which measured 3x slower).
  for (let r = 0; r < 3; r++) {
    v0 = (v0 + v1) | 0;
    v1 = ((v1 << 5) | (v1 >>> 27)) ^ v0;
    v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0;
    v3 = ((v3 << 8) | (v3 >>> 24)) ^ v2;
    v0 = (v0 + v3) | 0;
    v3 = ((v3 << 7) | (v3 >>> 25)) ^ v0;
    v2 = (v2 + v1) | 0;
    v1 = ((v1 << 13) | (v1 >>> 19)) ^ v2;
    v2 = (v2 << 16) | (v2 >>> 16);
  }
  return (v1 ^ v3) | 0;
}
