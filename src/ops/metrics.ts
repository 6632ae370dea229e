/**
 * Prometheus metrics through prom-client. Nothing is counted per packet here: every metric reads
 * the dataplane's own counters when it is scraped (prom-client `collect` callbacks).
 *
 * Counters mirror counters the CLI can clear (`clear interfaces`, `clear errors`, `clear
 * runtime`); a cleared counter is a counter reset to Prometheus, which rate() handles.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics, type LabelValues } from 'prom-client';
import type { Dataplane } from '../dataplane/dataplane.js';
import type { ErrorSource } from '../cli/context.js';
import type { Services } from '../services.js';
import type { Severity } from '../dataplane/node.js';
import { newCounters as newTcpCounters, type TcpCounters } from '../tcp/types.js';
import { MEM_KINDS, MEM_OOO } from '../tcp/budget.js';
import { publicReasons } from '../tcp/private-reasons.js';
import { VERSION } from '../version.js';

export interface MetricsSource {
  dp: Dataplane;
  services: Services;
  errorSources: readonly ErrorSource[];
  /** Liveness and readiness as the management endpoint reports them. */
  status(): { live: boolean; ready: boolean; stalls: number; maxGapMs: number };
}

type Row<L extends string> = [LabelValues<L>, number];

/** A counter whose value is read from elsewhere at scrape time. */
function mirroredCounter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[], rows: () => Iterable<Row<L>>): void {
  new Counter<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of rows()) this.inc(labels, Math.max(0, value));
    },
  });
}

function mirroredGauge<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[], rows: () => Iterable<Row<L>>): void {
  new Gauge<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of rows()) this.set(labels, value);
    },
  });
}

/** The value of fn(), computed at most once per `ttlMs` (one scrape reads device stats once). */
function memo<T>(fn: () => T, ttlMs = 200): () => T {
  let at = -Infinity;
  let value: T;
  return () => {
    const now = performance.now();
    if (now - at > ttlMs) {
      value = fn();
      at = now;
    }
    return value;
  };
}

const snake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** TCP counters that are current counts (gauges), not running totals. */
export const TCP_GAUGES = new Set<keyof TcpCounters>(['connections', 'synReceived', 'established', 'timeWait']);
/**
 * Counters that would tell an off-path host where a spoofed segment fell relative to a connection's
 * windows (the CVE-2016-5696 class, through /metrics instead of a rate limit): challenge ACKs, data
 * judged a duplicate (behind RCV.NXT), out-of-order data (ahead of it, with an acceptable ACK), and
 * D-SACKs sent (a duplicate's proof); and the private parts of segments/RSTs out, which are
 * subtracted from segments_out / rst_out instead (TCP_PUBLIC_OF). `show tcp stats` on the CLI
 * still shows them all; /metrics does not.
 */
export const TCP_PRIVATE_COUNTERS: ReadonlySet<keyof TcpCounters> = new Set<keyof TcpCounters>([
  'challengeAcks',
  'duplicateSegments',
  'outOfOrderSegments',
  'dsacksOut',
  'privateSegmentsOut',
  'privateRstOut',
]);

/** Exported counters that are a total less its private part (TcpStack.beginPrivate). */
export const TCP_PUBLIC_OF: Partial<Record<keyof TcpCounters, keyof TcpCounters>> = { segmentsOut: 'privateSegmentsOut', rstOut: 'privateRstOut' };

/** The TCP counters as /metrics exports them (a test's oracle uses this too). */
export function exportedTcpCounter(c: TcpCounters, key: keyof TcpCounters): number {
  const priv = TCP_PUBLIC_OF[key];
  return (c[key] ?? 0) - (priv === undefined ? 0 : (c[priv] ?? 0));
}

/**
 * A device's TX counter less the private frames handed to it (HardwareInterface.privateTx). The
 * dataplane counts a private frame when the device accepts it, the device when the kernel takes
 * it: while one waits in the TX backlog the difference is one low. Exported as a counter, it is
 * kept from going down (a Prometheus counter that goes down is a reset), unless the device's own
 * total went down (a real reset).
 */
function publicDeviceCounter(): (key: string, total: number, priv: number) => number {
  const last = new Map<string, { total: number; value: number }>();
  return (key, total, priv) => {
    const prev = last.get(key);
    let value = Math.max(0, total - priv);
    if (prev !== undefined && total >= prev.total && value < prev.value) value = prev.value;
    last.set(key, { total, value });
    return value;
  };
}

/** Extra AF_PACKET device counters exported when the device has them (name → help). */
const DEVICE_COUNTERS: Record<string, [string, string]> = {
  kernelPackets: ['kernel_packets', 'Frames the kernel delivered into the RX ring (PACKET_STATISTICS tp_packets - tp_drops)'],
  kernelDrops: ['kernel_drops', 'Frames the kernel dropped because the RX ring was full (tp_drops)'],
  kernelFreezes: ['kernel_freezes', 'Times the RX ring froze because userspace was too slow (tp_freeze_q_cnt)'],
  txErrors: ['tx_errors', 'Frames the device failed to transmit'],
  rxFrames: ['rx_frames', 'Frames read from the RX ring'],
  rxBytes: ['rx_bytes', 'Bytes read from the RX ring'],
  rxVectors: ['rx_vectors', 'Vectors handed to the dataplane'],
  rxWakeups: ['rx_wakeups', 'Poll wakeups of the RX ring'],
  rxRechecks: ['rx_rechecks', 'Further vectors a wakeup took: frames that arrived while the handler ran'],
  rxPolls: ['rx_polls', 'Loop turns that looked at the RX ring in polling mode (rx-mode polling, or adaptive while traffic flows)'],
  rxEmptyPolls: ['rx_empty_polls', 'Polling turns that found the RX ring empty (the first polling queue of a thread spins up to 100 us on it first, unless another fd of the event loop has an event)'],
  rxToPolling: ['rx_adaptive_to_polling', 'Times rx-mode adaptive went from interrupts to polling (a wakeup found frames)'],
  rxToInterrupt: ['rx_adaptive_to_interrupt', 'Times rx-mode adaptive went back to interrupts (no frame for its idle period)'],
  rxSpinBreaks: ['rx_spin_breaks', 'Polling spins on the ring ended early because another fd of the event loop had an event (the CLI, the management endpoint, file I/O done, a worker message, a TX socket writable again, another RX fd)'],
  rxOutgoingSkipped: ['rx_outgoing_skipped', "Frames of this host's own output skipped on RX"],
  rxTruncated: ['rx_truncated', 'Frames longer than the ring slot, skipped'],
  txFrames: ['tx_frames', 'Frames sent'],
  txBytes: ['tx_bytes', 'Bytes sent'],
  txEagain: ['tx_eagain', 'Transmit attempts that found the socket buffer full (EAGAIN)'],
  txNobufs: ['tx_nobufs', 'Transmit attempts that failed with ENOBUFS'],
  txBlocked: ['tx_blocked', 'TX backpressure episodes: the kernel refused frames (EAGAIN/ENOBUFS) and the device began holding them back'],
  txBacklogged: ['tx_backlogged', 'Frames held back in the device TX backlog, then sent from there in order'],
  txBacklogDrops: ['tx_backlog_drops', 'Frames refused because the device TX backlog was full (lost)'],
  txResumes: ['tx_resumes', 'Times the device tried its TX backlog again (socket writable, or a retry timer after ENOBUFS)'],
  txWritableWakeups: ['tx_writable_wakeups', 'Wakeups of the writable watch on the sending socket (armed only while frames wait after EAGAIN)'],
  socketErrors: ['socket_errors', 'Errors reported by the socket (e.g. ENETDOWN)'],
  handlerErrors: ['handler_errors', 'Exceptions thrown by the RX handler and caught by the device'],
};

interface RingGeometry {
  version: number;
  blockSize: number;
  blockCount: number;
  frameSize: number;
  frameCount: number;
}

/**
 * The period of prom-client's event-loop-delay sampler (nodejs_eventloop_lag_*), ms. It is a libuv
 * timer on the main thread: prom-client's default of 10 ms woke an idle dataplane 100 times a
 * second (0.4% of a core doing nothing, and on a VM a halted vCPU woken each time). At 100 ms an
 * idle dataplane in interrupt mode wakes about 15 times a second; a loop stall long enough to
 * matter (the health check's threshold is 2 s) still shows in the lag figures.
 */
export const EVENT_LOOP_LAG_RESOLUTION_MS = 100;

/** A registry with every vpp-server metric and the process metrics of prom-client. */
export function createMetricsRegistry(src: MetricsSource): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_LAG_RESOLUTION_MS });
  // Gauges named *_total break Prometheus' naming rules (promtool check metrics rejects them);
  // sum(nodejs_active_handles) etc. give the same figures.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }
  const { dp, services } = src;

  new Gauge({
    name: 'vpp_build_info',
    help: 'Always 1; the labels say which vpp-server and Node.js run',
    labelNames: ['version', 'nodejs'],
    registers: [registry],
    collect() {
      this.set({ version: VERSION, nodejs: process.version }, 1);
    },
  });
  mirroredGauge(registry, 'vpp_live', '1 when /healthz answers 200 (the loop turns, rings are drained)', [], () => [[{}, src.status().live ? 1 : 0]]);
  mirroredGauge(registry, 'vpp_ready', '1 when /readyz answers 200 (interfaces up, address set, HTTP server listening)', [], () => [[{}, src.status().ready ? 1 : 0]]);
  mirroredCounter(registry, 'vpp_event_loop_stalls_total', 'Event loop stalls longer than the stall threshold', [], () => [[{}, src.status().stalls]]);
  mirroredGauge(registry, 'vpp_event_loop_max_gap_seconds', 'Longest gap between two heartbeats of the event loop since start', [], () => [[{}, src.status().maxGapMs / 1000]]);

  // ---- interfaces (as `show interface`)
  const ifaceCounter = (name: string, help: string, pick: (c: Dataplane['interfaces'][number]['counters']) => number) =>
    mirroredCounter(registry, name, help, ['interface'], () => dp.interfaces.map((sw) => [{ interface: sw.name }, pick(sw.counters)]));
  ifaceCounter('vpp_interface_rx_packets_total', 'Packets received on the interface (show interface: rx packets)', (c) => c.rxPackets);
  ifaceCounter('vpp_interface_rx_bytes_total', 'Bytes received on the interface (show interface: rx bytes)', (c) => c.rxBytes);
  // TX series leave out private frames (tcp/private-reasons.ts): `show interface` has the totals.
  const ifaceTx = (name: string, help: string, pick: (c: { txPackets: number; txBytes: number; txErrors: number }) => number) =>
    mirroredCounter(registry, name, help, ['interface'], () => dp.interfaces.map((sw) => [{ interface: sw.name }, pick(sw.counters) - pick(sw.privateCounters)]));
  ifaceTx('vpp_interface_tx_packets_total', 'Packets sent on the interface, private answers left out (show interface: tx packets, all of them)', (c) => c.txPackets);
  ifaceTx('vpp_interface_tx_bytes_total', 'Bytes sent on the interface, private answers left out (show interface: tx bytes, all of them)', (c) => c.txBytes);
  ifaceCounter('vpp_interface_drops_total', 'Packets dropped on the interface (show interface: drops)', (c) => c.drops);
  ifaceCounter('vpp_interface_ip4_packets_total', 'IPv4 packets received on the interface (show interface: ip4)', (c) => c.ip4);
  ifaceCounter('vpp_interface_ip6_packets_total', 'IPv6 packets received on the interface (show interface: ip6)', (c) => c.ip6);
  ifaceTx('vpp_interface_tx_errors_total', 'Packets the device did not accept for sending, private answers left out (show interface: tx-error)', (c) => c.txErrors);
  mirroredGauge(registry, 'vpp_interface_up', '1 when the interface (and its parent) is administratively up', ['interface'], () =>
    dp.interfaces.map((sw) => [{ interface: sw.name }, sw.up ? 1 : 0]),
  );
  mirroredGauge(registry, 'vpp_interface_ip4_addresses', 'IPv4 addresses configured on the interface', ['interface'], () =>
    dp.interfaces.map((sw) => [{ interface: sw.name }, sw.addresses.length]),
  );
  mirroredGauge(registry, 'vpp_interface_mtu_bytes', 'L3 MTU of the interface', ['interface'], () => dp.interfaces.map((sw) => [{ interface: sw.name }, sw.mtu]));

  // ---- errors and dispositions by node and reason (as `show errors`)
  mirroredCounter(registry, 'vpp_errors_total', 'Frames and events by node and reason (show errors); severity error = a drop', ['node', 'reason', 'severity'], () => {
    const rows: Row<'node' | 'reason' | 'severity'>[] = [];
    for (const node of dp.graphNodes()) {
      const sev: readonly Severity[] | undefined = node.severities;
      // Less what private frames added (tcp/private-reasons.ts); `show errors` has the totals.
      node.errorNames.forEach((reason, i) => rows.push([{ node: node.name, reason, severity: sev?.[i] ?? 'error' }, node.errors[i] - node.privateErrors[i]]));
    }
    for (const source of src.errorSources) {
      const counts = source.counts();
      const exported = source.private === undefined ? Object.entries(counts) : publicReasons(counts, source.private.reasons);
      for (const [reason, count] of exported) rows.push([{ node: source.node, reason, severity: 'error' }, count]);
    }
    return rows;
  });

  // ---- node runtime (as `show runtime`)
  // Dispatches and packets of private frames left out (tcp/private-reasons.ts); `show runtime` has them.
  mirroredCounter(registry, 'vpp_node_calls_total', 'Dispatches of the graph node, those of private answers only left out (show runtime: Calls)', ['node'], () =>
    dp.graphNodes().map((n) => [{ node: n.name }, n.runtime.calls - n.privateRuntime.calls]),
  );
  mirroredCounter(registry, 'vpp_node_vectors_total', 'Packets processed by the graph node, private answers left out (show runtime: Vectors)', ['node'], () =>
    dp.graphNodes().map((n) => [{ node: n.name }, n.runtime.vectors - n.privateRuntime.vectors]),
  );
  mirroredCounter(registry, 'vpp_node_seconds_total', 'Time spent in the graph node; divide by vpp_node_vectors_total for time per packet', ['node'], () =>
    dp.graphNodes().map((n) => [{ node: n.name }, n.runtime.nanos / 1e9]),
  );
  mirroredCounter(registry, 'vpp_node_exceptions_total', 'Vectors abandoned because the graph node threw (the dataplane goes on)', ['node'], () =>
    Object.entries(dp.exceptions).map(([node, n]) => [{ node }, n]),
  );

  // ---- devices: AF_PACKET ring and kernel socket statistics (as `show hardware-interfaces`)
  const deviceStats = memo(() => dp.hardware.map((hw) => ({ name: hw.name, stats: hw.device.stats() as unknown as Record<string, unknown>, hw })));
  // Frames and bytes sent less the private frames (tcp/private-reasons.ts); show hardware-interfaces has the totals.
  const devicePublic = publicDeviceCounter();
  const devicePrivate: Record<string, (hw: Dataplane['hardware'][number]) => number> = {
    txFrames: (hw) => hw.privateTx.frames,
    txBytes: (hw) => hw.privateTx.bytes,
  };
  for (const [field, [metric, help]] of Object.entries(DEVICE_COUNTERS)) {
    const priv = devicePrivate[field];
    mirroredCounter(registry, `vpp_device_${metric}_total`, priv === undefined ? help : `${help}, private answers left out`, ['interface'], () =>
      deviceStats()
        .filter((d) => typeof d.stats[field] === 'number')
        .map((d) => [{ interface: d.name }, priv === undefined ? (d.stats[field] as number) : devicePublic(`${d.name} ${field}`, d.stats[field] as number, priv(d.hw))]),
    );
  }
  const ring = (hw: Dataplane['hardware'][number]): RingGeometry | undefined => (hw.device as unknown as { ring?: RingGeometry }).ring;
  const ringGauge = (name: string, help: string, pick: (r: RingGeometry) => number) =>
    mirroredGauge(registry, name, help, ['interface'], () =>
      dp.hardware.flatMap((hw) => {
        const r = ring(hw);
        return r === undefined ? [] : [[{ interface: hw.name }, pick(r)] as Row<'interface'>];
      }),
    );
  ringGauge('vpp_device_ring_blocks', 'RX ring blocks (TPACKET_V3) or 1 (V2)', (r) => r.blockCount);
  ringGauge('vpp_device_ring_block_size_bytes', 'RX ring block size', (r) => r.blockSize);
  ringGauge('vpp_device_ring_frames', 'RX ring frame slots', (r) => r.frameCount);
  ringGauge('vpp_device_ring_frame_size_bytes', 'RX ring frame slot size', (r) => r.frameSize);
  const deviceGauge = (name: string, help: string, field: string) =>
    mirroredGauge(registry, name, help, ['interface'], () =>
      deviceStats()
        .filter((d) => typeof d.stats[field] === 'number')
        .map((d) => [{ interface: d.name }, d.stats[field] as number] as Row<'interface'>),
    );
  deviceGauge('vpp_device_tx_backlog_frames', 'Frames waiting in the device TX backlog now', 'txBacklogFrames');
  deviceGauge('vpp_device_tx_backlog_peak_frames', 'Most frames the device TX backlog held at once', 'txBacklogPeak');
  deviceGauge('vpp_device_tx_send_buffer_bytes', 'SO_SNDBUF of the sending socket as the kernel granted it', 'txSendBuffer');
  mirroredGauge(registry, 'vpp_device_tx_batch_slots', 'TX batch slots (frames sent per sendmmsg at most)', ['interface'], () =>
    dp.hardware.map((hw) => [{ interface: hw.name }, hw.tx.capacity]),
  );

  // ---- TCP
  const tcp = () => services.tcp?.stack.counters;
  for (const key of Object.keys(newTcpCounters()) as (keyof TcpCounters)[]) {
    if (TCP_GAUGES.has(key) || TCP_PRIVATE_COUNTERS.has(key)) continue;
    const base = snake(key).replace(/_total$/, '');
    mirroredCounter(registry, `vpp_tcp_${base}_total`, `TCP ${snake(key).replace(/_/g, ' ')} (TcpStack counters.${key})`, [], () => {
      const c = tcp();
      return c === undefined ? [] : [[{}, exportedTcpCounter(c, key)]];
    });
  }
  mirroredGauge(registry, 'vpp_tcp_connections', 'TCP connections now, by state (syn_received, established, time_wait, other)', ['state'], () => {
    const c = tcp();
    if (c === undefined) return [];
    const other = Math.max(0, c.connections - c.synReceived - c.established - c.timeWait);
    return [
      [{ state: 'syn_received' }, c.synReceived],
      [{ state: 'established' }, c.established],
      [{ state: 'time_wait' }, c.timeWait],
      [{ state: 'other' }, other],
    ];
  });

  // ---- memory budget (as `show tcp memory`; its refusals and drops are in vpp_errors_total, node tcp4-session)
  const mem = () => services.tcp?.stack.mem;
  const memGauge = (name: string, help: string, pick: (m: NonNullable<ReturnType<typeof mem>>) => number) =>
    mirroredGauge(registry, name, help, [], () => {
      const m = mem();
      return m === undefined ? [] : [[{}, pick(m)]];
    });
  memGauge('vpp_memory_budget_bytes', 'The budget for buffered TCP/HTTP bytes (vpp-server { memory-budget })', (m) => m.limit);
  // Out-of-order bytes are not exported (show tcp memory has them): a spoofed segment in a
  // connection's window above RCV.NXT is held there, one that misses is not (tcp/private-reasons.ts).
  mirroredGauge(registry, 'vpp_memory_buffered_bytes', 'Bytes buffered now, by kind (receive, pipelined, send; out-of-order only in show tcp memory)', ['kind'], () => {
    const m = mem();
    return m === undefined ? [] : MEM_KINDS.flatMap((kind, i) => (i === MEM_OOO ? [] : [[{ kind }, m.used[i]] as Row<'kind'>]));
  });
  memGauge('vpp_memory_buffered_peak_bytes', 'Most bytes buffered at once since start, out-of-order bytes left out', (m) => m.publicPeak);
  // The process-wide figures (tcp/shared-limits.ts) come from one thread only, the main thread
  // (thread 0), so that a sum over the thread label does not count them once per thread.
  const sharedGauge = (name: string, help: string, pick: (m: NonNullable<ReturnType<typeof mem>>) => number) =>
    mirroredGauge(registry, name, help, [], () => {
      const m = mem();
      return m === undefined || m.shared.thread !== 0 ? [] : [[{}, pick(m)]];
    });
  sharedGauge('vpp_memory_sources', 'Client addresses with at least one connection, in all threads (per-source limits)', (m) => m.sources.sources);
  sharedGauge('vpp_memory_process_buffered_bytes', 'Bytes buffered in all threads, as the threads published them (to the KiB), out-of-order bytes left out (the budget is tested against the total with them)', (m) => m.publicGlobalTotal());
  sharedGauge('vpp_tcp_time_wait_process', 'TIME_WAIT entries in all threads (tcp-time-wait-max caps this count)', (m) => m.shared.timeWait);

  // ---- HTTP static servers
  const http = memo(() => services.http.map((h) => ({ server: `${h.command.address}:${h.command.port}`, stats: h.server.stats() })));
  const httpCounter = (name: string, help: string, pick: (s: ReturnType<typeof http>[number]['stats']) => number) =>
    mirroredCounter(registry, name, help, ['server'], () => http().map((h) => [{ server: h.server }, pick(h.stats)]));
  const httpGauge = (name: string, help: string, pick: (s: ReturnType<typeof http>[number]['stats']) => number) =>
    mirroredGauge(registry, name, help, ['server'], () => http().map((h) => [{ server: h.server }, pick(h.stats)]));
  httpCounter('vpp_http_requests_total', 'HTTP requests parsed', (s) => s.requests);
  mirroredCounter(registry, 'vpp_http_responses_total', 'HTTP responses by status class', ['server', 'code'], () =>
    http().flatMap((h) => Object.entries(h.stats.responses).map(([code, n]) => [{ server: h.server, code }, n] as Row<'server' | 'code'>)),
  );
  httpCounter('vpp_http_sent_bytes_total', 'HTTP bytes written (heads and bodies)', (s) => s.bytesSent);
  httpCounter('vpp_http_connections_accepted_total', 'HTTP connections accepted', (s) => s.connectionsTotal);
  httpGauge('vpp_http_connections_open', 'HTTP connections open now', (s) => s.connectionsOpen);
  httpGauge('vpp_http_cache_entries', 'Files in the HTTP cache', (s) => s.cache.entries);
  httpGauge('vpp_http_cache_bytes', 'Bytes of file bodies in the HTTP cache', (s) => s.cache.bytes);
  httpGauge('vpp_http_cache_capacity_bytes', 'HTTP cache size (cache-size)', (s) => s.cache.capacity);
  httpCounter('vpp_http_cache_hits_total', 'HTTP cache hits', (s) => s.cache.hits);
  httpCounter('vpp_http_cache_misses_total', 'HTTP cache misses', (s) => s.cache.misses);
  httpCounter('vpp_http_cache_evictions_total', 'HTTP cache evictions', (s) => s.cache.evictions);

  // ---- TLS listeners and HTTP/2
  const tlsRows = memo(() =>
    services.http.flatMap((h) =>
      h.listeners.flatMap((l) => (l.tls === null ? [] : [{ listener: `${l.command.address}:${l.command.port}`, tls: l.tls, stats: l.tls.stats() }])),
    ),
  );
  type TlsRow = ReturnType<typeof tlsRows>[number];
  const tlsCounter = (name: string, help: string, pick: (r: TlsRow) => number) =>
    mirroredCounter(registry, name, help, ['listener'], () => tlsRows().map((r) => [{ listener: r.listener }, pick(r)]));
  mirroredCounter(registry, 'vpp_tls_handshakes_total', 'TLS handshakes completed, by protocol version', ['listener', 'version'], () =>
    tlsRows().flatMap((r) => [
      [{ listener: r.listener, version: 'TLSv1.3' }, r.stats.tls13] as Row<'listener' | 'version'>,
      [{ listener: r.listener, version: 'TLSv1.2' }, r.stats.tls12] as Row<'listener' | 'version'>,
    ]),
  );
  tlsCounter('vpp_tls_resumed_total', 'TLS handshakes that resumed a session (ticket)', (r) => r.stats.resumed);
  mirroredCounter(registry, 'vpp_tls_handshake_failures_total', 'TLS handshakes that failed, by reason', ['listener', 'reason'], () =>
    tlsRows().flatMap((r) =>
      ['handshake-failed', 'protocol-refused', 'no-shared-cipher', 'handshake-timeout'].map(
        (reason) => [{ listener: r.listener, reason }, r.stats.errors[reason] ?? 0] as Row<'listener' | 'reason'>,
      ),
    ),
  );
  tlsCounter('vpp_tls_reloads_total', 'Certificate reloads that took effect', (r) => r.stats.reloads);
  mirroredCounter(registry, 'vpp_tls_reload_failures_total', 'Certificate reloads refused (TLS_RELOAD_FAILED), by reason: the previous pair stays', ['listener', 'reason'], () =>
    tlsRows().flatMap((r) => Object.entries(r.stats.reloadFailures).map(([reason, n]) => [{ listener: r.listener, reason }, n] as Row<'listener' | 'reason'>)),
  );
  mirroredCounter(registry, 'vpp_tls_connections_refused_total', 'TLS connections reset before their handshake, by reason', ['listener', 'reason'], () =>
    tlsRows().flatMap((r) =>
      ['hello-timeout', 'not-tls', 'handshake-limit', 'handshake-limit-source'].map(
        (reason) => [{ listener: r.listener, reason }, r.stats.errors[reason] ?? 0] as Row<'listener' | 'reason'>,
      ),
    ),
  );
  mirroredCounter(registry, 'vpp_tls_connections_closed_total', 'TLS connections closed after their handshake, by reason (record-error, key-update-flood)', ['listener', 'reason'], () =>
    tlsRows().flatMap((r) =>
      ['record-error', 'key-update-flood'].map((reason) => [{ listener: r.listener, reason }, r.stats.errors[reason] ?? 0] as Row<'listener' | 'reason'>),
    ),
  );
  tlsCounter('vpp_tls_ticket_key_rotations_total', 'Session-ticket key rotations', (r) => r.stats.ticketKeyRotations);
  mirroredCounter(registry, 'vpp_tls_handshake_seconds_total', 'Time spent in OpenSSL on handshake records (show runtime tls-handshake)', ['listener'], () =>
    tlsRows().map((r) => [{ listener: r.listener }, r.tls.handshakeRuntime.nanos / 1e9]),
  );
  mirroredGauge(registry, 'vpp_tls_certificate_not_after_seconds', 'Expiry of the certificate being served (Unix time)', ['listener'], () =>
    tlsRows().map((r) => [{ listener: r.listener }, r.tls.certificate().notAfterEpoch]),
  );
  const h2Rows = memo(() => services.http.flatMap((h) => (h.h2 === null ? [] : [{ server: `${h.command.address}:${h.command.port}`, stats: h.h2.stats() }])));
  mirroredCounter(registry, 'vpp_http2_sessions_total', 'HTTP/2 sessions (ALPN h2 and h2c)', ['server'], () => h2Rows().map((r) => [{ server: r.server }, r.stats.sessionsTotal]));
  mirroredGauge(registry, 'vpp_http2_sessions_open', 'HTTP/2 sessions open now', ['server'], () => h2Rows().map((r) => [{ server: r.server }, r.stats.sessionsOpen]));
  mirroredCounter(registry, 'vpp_http2_streams_total', 'HTTP/2 streams (requests)', ['server'], () => h2Rows().map((r) => [{ server: r.server }, r.stats.streams]));
  mirroredCounter(registry, 'vpp_http2_abuse_total', 'HTTP/2 sessions or streams refused as abuse, by kind (rapid-reset, continuation-flood, ...)', ['server', 'kind'], () =>
    h2Rows().flatMap((r) => Object.entries(r.stats.errors).map(([kind, n]) => [{ server: r.server, kind }, n] as Row<'server' | 'kind'>)),
  );

  return registry;
}
