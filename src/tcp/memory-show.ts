/** `show tcp memory`: the memory budget, what is buffered by kind, the per-source limits, the refusals. */
import { MEM_KINDS, MEMORY_ERROR_REASONS, type MemoryBudget } from './budget.js';
import { ipToString } from './types.js';
import { formatIpv6 } from '../wire/ipv6-address.js';

/** "1.5 GiB", "64.0 MiB", "512 B". */
export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** `origin`: how the budget was chosen; `errors`: the stack's error counters (every thread's, summed); `extra`: more limit lines. */
export function formatTcpMemory(mem: MemoryBudget, origin: string, errors: Record<string, number>, extra: string[] = [], top = 5): string {
  const sh = mem.shared;
  const threads = sh.threads;
  const lines = [
    `memory budget ${formatBytes(mem.limit)} (${origin})${threads > 1 ? `, shared by ${threads} threads` : ''}`,
    `  tight from ${formatBytes(mem.pressureAt)} (out-of-order data pruned, windows held), new connections refused from ${formatBytes(mem.refuseAt)}`,
  ];
  if (threads === 1) {
    lines.push(`buffered ${formatBytes(mem.total)}, peak ${formatBytes(mem.peak)}`);
    MEM_KINDS.forEach((kind, i) => lines.push(`  ${kind.padEnd(14)}${formatBytes(mem.used[i]).padStart(12)}   peak ${formatBytes(mem.peaks[i])}`));
  } else {
    // Every thread publishes its figures (to the KiB, when they moved by more than a quantum).
    const figures = Array.from({ length: threads }, (_, t) => sh.threadFigures(t));
    const kinds = [0, 0, 0, 0];
    for (const f of figures) f.kinds.forEach((k, i) => (kinds[i] += k));
    lines.push(`buffered ${formatBytes(mem.globalTotal())} in all threads, peak ${formatBytes(sh.peakKib() * 1024)}`);
    MEM_KINDS.forEach((kind, i) => lines.push(`  ${kind.padEnd(14)}${formatBytes(kinds[i] * 1024).padStart(12)}`));
    figures.forEach((f, t) => lines.push(`  thread ${t} ${threadLabel(t).padEnd(10)}${formatBytes(f.total * 1024).padStart(12)}   peak ${formatBytes(f.peak * 1024)}`));
  }
  const s = mem.sources;
  lines.push(
    `per source address: at most ${s.maxConnections} connections and ${formatBytes(s.maxBytes)} (tight from ${formatBytes(s.pressureBytes)}); ${s.sources} addresses now` +
      ` (table of ${s.table.capacity}; table full for ${s.table.full} new sources, charged to its shared overflow slot)`,
  );
  const ovf = s.overflow();
  if (ovf.connections > 0 || s.table.full > 0) lines.push(`  overflow slot    connections ${String(ovf.connections).padStart(6)}   buffered ${formatBytes(ovf.bytes)} (no per-source limits: the memory budget bounds them)`);
  for (const r of s.top(top)) {
    const who = r.ip6 !== undefined ? `${formatIpv6(r.ip6)}/${r.prefix ?? 64}` : ipToString(r.ip);
    lines.push(`  ${who.padEnd(16)} connections ${String(r.connections).padStart(6)}   buffered ${formatBytes(r.bytes)}`);
  }
  lines.push(`TIME_WAIT entries ${sh.timeWait}${threads > 1 ? ' (all threads)' : ''}`);
  lines.push(...extra);
  lines.push('refused and dropped:');
  for (const [reason, text] of Object.entries(MEMORY_ERROR_REASONS)) lines.push(`${String(errors[reason] ?? 0).padStart(12)}  ${reason.padEnd(20)} ${text}`);
  return lines.join('\n');
}

/** vpp_main, vpp_wk_0 … */
function threadLabel(t: number): string {
  return t === 0 ? 'vpp_main' : `vpp_wk_${t - 1}`;
}
