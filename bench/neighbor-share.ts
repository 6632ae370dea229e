/**
 * What sharing a neighbour between worker threads costs (issue 12, item 4): one thread posts a
 * SharedNeighbor message on a BroadcastChannel, as a worker does when it hears news in an ARP
 * packet; another thread's handler receives it. Prints the process CPU around each post (both threads), and the one-way
 * latency (post → handler, on the clock both threads share: timeOrigin + now), median and p99,
 * with the receiver idle (it sleeps in epoll) and busy (its loop turns every millisecond).
 * A figure, not a test. Usage: node dist/bench/neighbor-share.js [--count N]
 */
import { BroadcastChannel, Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const now = (): number => performance.timeOrigin + performance.now();

if (!isMainThread) {
  const { channel, busy } = workerData as { channel: string; busy: boolean };
  const ch = new BroadcastChannel(channel);
  const lat: number[] = [];
  ch.onmessage = (ev) => {
    const m = (ev as unknown as { data: { t: number; last?: boolean } }).data;
    if (m.last) {
      parentPort!.postMessage(lat);
      ch.close();
      if (timer !== null) clearInterval(timer);
      return;
    }
    lat.push((now() - m.t) * 1000);
  };
  // A busy receiver: its event loop turns (a timer every ms) as a worker's under traffic does.
  const timer = busy ? setInterval(() => { for (let i = 0; i < 1e4; i++); }, 1) : null;
  parentPort!.postMessage('ready');
} else {
  const count = Number(process.argv[process.argv.indexOf('--count') + 1]) || 2000;
  const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
  for (const busy of [false, true]) {
    const name = `neighbor-share-bench-${process.pid}-${busy}`;
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: { channel: name, busy } });
    await new Promise((r) => w.once('message', r));
    const ch = new BroadcastChannel(name);
    const mac = new Uint8Array([2, 0, 0, 0, 0, 1]);
    let cpu = 0;
    for (let i = 0; i < count; i++) {
      const c0 = process.cpuUsage();
      ch.postMessage({ from: 1, sw: 2, ip: 0xc0a87b0a, mac, reply: true, create: false, t: now() });
      const c = process.cpuUsage(c0);
      cpu += c.user + c.system;
      await new Promise((r) => setTimeout(r, 1));
    }
    const lat = await new Promise<number[]>((resolve) => {
      w.once('message', resolve);
      ch.postMessage({ t: now(), last: true });
    });
    ch.close();
    await w.terminate();
    console.log(
      `receiver ${busy ? 'busy' : 'idle'}: ${lat.length} messages, process CPU ${(cpu / count).toFixed(1)} µs per message (both threads, process.cpuUsage around the post), ` +
        `one-way latency median ${quantile(lat, 0.5).toFixed(1)} µs, p99 ${quantile(lat, 0.99).toFixed(1)} µs`,
    );
  }
}
