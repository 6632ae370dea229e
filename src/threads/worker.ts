/**
 * A worker thread (vpp_wk_<n>): a whole dataplane of its own — its RX queues' rings, the graph,
 * a TCP stack, the HTTP servers and their connections — configured line by line by the main
 * thread, which runs every configuration command here too (so every thread holds the same
 * interfaces, addresses, routes and listeners, with the same sw_if_index numbers).
 *
 * What crosses threads: configuration lines and their results, `show` data the main thread sums
 * or prints per thread, echo replies for the main thread's `ping`, and neighbours: an ARP packet
 * reaches one RX queue only (its flow hash has no ports), so what one thread learns is sent to all
 * the others on a BroadcastChannel (one structured-clone message per news, not per packet).
 */
import { BroadcastChannel, parentPort, workerData as rawWorkerData } from 'node:worker_threads';
import { Engine } from '../engine.js';
import { execute } from '../cli/cli.js';
import { errorRows } from '../cli/show-commands.js';
import { localPlacement, threadName, type ThreadView } from '../cli/threads.js';
import { createLogger } from '../log.js';
import { threadControl } from '../io/af-packet.js';
import { afPacketOptions, openQueues } from './devices.js';
import { SharedLimits } from '../tcp/shared-limits.js';
import { PcapTrace } from '../dataplane/pcap-trace.js';
import type { CounterSnapshot, FromWorker, OpenPlan, SharedNeighbor, ToWorker, WorkerData } from './protocol.js';

const data = rawWorkerData as WorkerData;
const port = parentPort!;
const name = threadName(data.index);
const post = (m: FromWorker): void => port.postMessage(m);

function main(): void {
  let pinError = '';
  let lcore: number | null = null;
  if (data.core !== null) {
    pinError = threadControl.pin(data.core);
    if (pinError === '') lcore = data.core;
  }
  const log = createLogger({ level: data.config.engine['log-level'], destination: data.config.log }).child({ thread: name });
  const options = afPacketOptions(data.config, (err) => {
    const e = err as NodeJS.ErrnoException;
    log.warn({ code: e.code ?? 'DEVICE_ERROR', err: { message: e.message } }, `${name}: ${e.message}`);
  });

  // The queues the current `create host-interface` line opens here (set by the main thread's message).
  let plan: OpenPlan | null = null;
  let fanoutId: number | null = null;
  const engine: Engine = new Engine({
    // No CLI socket, no startup-config, no management endpoint: the main thread has those.
    config: { ...data.config, cliListen: undefined, startupConfig: undefined, engine: { ...data.config.engine, management: undefined as unknown as string } },
    log,
    openDevice: (ifname) => {
      const p = plan ?? { queues: [], fanout: 'none' as const };
      const opened = openQueues(ifname, options, p.queues, p.fanout);
      fanoutId = opened.fanoutId;
      return opened.device;
    },
    announces: false,
    cacheShare: 1 / data.workers,
    sharedLimits: SharedLimits.attach(data.sharedLimits, data.index),
    threads: {
      self: data.index,
      threads: () => [],
      placement: () => localPlacement(engine.dp.hardware, data.index),
    } satisfies ThreadView,
  });
  engine.dp.tracer.thread = { index: data.index, name };
  engine.metrics.setDefaultLabels({ thread: name });

  const channel = new BroadcastChannel(data.neighborChannel);
  engine.dp.neighbors.share = (sw, ip, buf, off, reply, create) => {
    const m: SharedNeighbor = { from: data.index, sw: sw.index, ip, mac: Uint8Array.from(buf.subarray(off, off + 6)), reply, create };
    channel.postMessage(m);
  };
  channel.onmessage = (ev) => {
    const m = (ev as unknown as { data: SharedNeighbor }).data;
    if (m.from === data.index) return;
    engine.dp.learnShared(m.sw, m.ip, Buffer.from(m.mac), m.reply, m.create);
  };
  // Replies to the main thread's ping arrive at whichever worker their flow hash picks.
  engine.dp.icmp.onEchoReply = (src, id, seq, ttl, len) => post({ t: 'echo', src, id, seq, ttl, len });

  port.on('message', (m: ToWorker) => {
    void handle(m).catch((err: Error) => post({ t: 'done', id: (m as { id: number }).id, ok: false, output: `${name}: internal error: ${err.message}` }));
  });

  async function handle(m: ToWorker): Promise<void> {
    switch (m.t) {
      case 'exec': {
        plan = m.plan ?? null;
        fanoutId = null;
        try {
          const r = await execute(engine.registry, m.line, engine.context);
          post({ t: 'done', id: m.id, ...r, fanoutId });
        } finally {
          plan = null;
        }
        return;
      }
      case 'rows': {
        const counters: CounterSnapshot = {};
        for (const sw of engine.dp.interfaces) counters[sw.index] = { ...sw.counters } as unknown as Record<string, number>;
        post({ t: 'rows', id: m.id, errors: errorRows(engine.context), counters });
        return;
      }
      case 'metrics':
        post({ t: 'metrics', id: m.id, json: await engine.metrics.getMetricsAsJSON() });
        return;
      case 'info':
        post({ t: 'info', id: m.id, lwp: threadControl.lwp(), cpuNow: threadControl.cpu() });
        return;
      case 'drain': {
        const r = await engine.drain(m.graceMs);
        post({ t: 'drained', id: m.id, clean: r.clean, remaining: r.remaining });
        return;
      }
      case 'pcap': {
        const capture = engine.dp.pcap instanceof PcapTrace ? engine.dp.pcap : null;
        if (capture === null || !m.take) {
          post({ t: 'pcap', id: m.id, captured: capture?.captured ?? 0, records: null });
          return;
        }
        engine.dp.pcap = null; // the main thread writes the file
        const records = Uint8Array.from(capture.records());
        port.postMessage({ t: 'pcap', id: m.id, captured: capture.captured, records } satisfies FromWorker, [records.buffer]);
        return;
      }
      case 'stop':
        await engine.stop();
        channel.close();
        post({ t: 'stopped', id: m.id });
        port.close();
        return;
    }
  }

  engine
    .start()
    .then(() => post({ t: 'ready', lwp: threadControl.lwp(), lcore, pinError }))
    .catch((err: NodeJS.ErrnoException) => post({ t: 'failed', message: err.message, code: err.code ?? 'WORKER_START' }));
}

try {
  main();
} catch (err) {
  const e = err as NodeJS.ErrnoException;
  post({ t: 'failed', message: e.message, code: e.code ?? 'WORKER_START' });
}
