/** Text for the CLI: `show http static server cache [verbose]`, modelled on VPP's layout. */
import type { HttpStaticServer } from './server.js';

export function formatHttpStaticServerCache(server: HttpStaticServer, verbose = false, now: number = Date.now()): string {
  const st = server.cache.stats();
  const lines = [
    `www_root ${server.wwwRoot}, cache size ${st.bytes} bytes, limit ${st.capacity} bytes, evictions ${st.evictions}`,
    `entries ${st.entries}, hits ${st.hits}, misses ${st.misses}`,
  ];
  if (verbose) {
    lines.push(`${'File'.padStart(40)}${'Size'.padStart(12)}${'Age'.padStart(20)}`);
    for (const e of server.cache.entries()) {
      lines.push(`${e.key.padStart(40)}${String(e.size).padStart(12)}${((now - e.lastUsed) / 1000).toFixed(2).padStart(20)}`);
    }
  }
  return lines.join('\n');
}
