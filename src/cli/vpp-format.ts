/** vppinfra's formatting conventions, for outputs that VPP users read (and scripts parse). */

/** `%=Ns`: centred in n columns, an odd pad on the left; a longer value is truncated. */
export function centre(text: string, n: number): string {
  if (text.length >= n) return text.slice(0, n);
  const pad = n - text.length;
  const right = Math.floor(pad / 2);
  return ' '.repeat(pad - right) + text + ' '.repeat(right);
}

/** `%.Nf` as vppinfra prints it: no leading zero below 1 (`.5000`). */
export function vppFixed(x: number, decimals: number): string {
  const s = x.toFixed(decimals);
  if (s.startsWith('0.')) return s.slice(1);
  if (s.startsWith('-0.')) return `-${s.slice(2)}`;
  return s;
}
