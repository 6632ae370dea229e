/** `show tcp memory`: the memory budget, what is buffered by kind, the per-source limits, the refusals. */
import { MEM_KINDS, MEMORY_ERROR_REASONS, type MemoryBudget } from './budget.js';
import { ipToString } from './types.js';

/** "1.5 GiB", "64.0 MiB", "512 B". */
export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** `origin`: how the budget was chosen; `errors`: the stack's error counters; `extra`: more limit lines. */
export function formatTcpMemory(mem: MemoryBudget, origin: string, errors: Record<string, number>, extra: string[] = [], top = 5): string {
  const lines = [
    `memory budget ${formatBytes(mem.limit)} (${origin})`,
    `  tight from ${formatBytes(mem.pressureAt)} (out-of-order data pruned, windows held), new connections refused from ${formatBytes(mem.refuseAt)}`,
    `buffered ${formatBytes(mem.total)}, peak ${formatBytes(mem.peak)}`,
  ];
  MEM_KINDS.forEach((kind, i) => lines.push(`  ${kind.padEnd(14)}${formatBytes(mem.used[i]).padStart(12)}   peak ${formatBytes(mem.peaks[i])}`));
  const s = mem.sources;
  lines.push(`per source address: at most ${s.maxConnections} connections and ${formatBytes(s.maxBytes)} (tight from ${formatBytes(s.pressureBytes)}); ${s.sources} addresses now`);
  for (const r of s.top(top)) lines.push(`  ${ipToString(r.ip).padEnd(16)} connections ${String(r.connections).padStart(6)}   buffered ${formatBytes(r.bytes)}`);
  lines.push(...extra);
  lines.push('refused and dropped:');
  for (const [reason, text] of Object.entries(MEMORY_ERROR_REASONS)) lines.push(`${String(errors[reason] ?? 0).padStart(12)}  ${reason.padEnd(20)} ${text}`);
  return lines.join('\n');
}
