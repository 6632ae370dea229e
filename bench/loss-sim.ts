/**
 * The bench's loss row in miniature, in process and deterministic: our TCP stack as server and as
 * client over a simulated link that drops a share of the packets each way (seeded), 1 MiB
 * downloads, one per seed. Prints per seed the time taken and what recovery did (timeouts, tail
 * loss probes, fast recoveries, retransmissions, undos). A tool to compare recovery changes with
 * the same losses, not a test; the real judge is `node dist/bench/bench.js --only loss` (Linux as
 * the client, nginx beside us).
 *
 *   node dist/bench/loss-sim.js            (env: CC=cubic|newreno|bbr, DELAY=one-way ms (10),
 *                                            LOSS=0.05, SIZE=bytes, SEEDS=1,2,…)
 */
import { download } from '../test/helpers/tcp-pair.js';

const cc = (process.env.CC ?? 'cubic') as 'cubic' | 'newreno' | 'bbr';
const delay = Number(process.env.DELAY ?? 10);
const size = Number(process.env.SIZE ?? (1 << 20));
const tot = { ms: 0, timeouts: 0, tailLossProbes: 0, fastRecoveries: 0, retransmits: 0, undoDsack: 0, undoEifel: 0, undoFrto: 0 };
for (const seed of (process.env.SEEDS ?? '1,2,3,4,5,6,7,8').split(',').map(Number)) {
  const r = download({ delay, loss: Number(process.env.LOSS ?? 0.05), seed }, size, { congestionControl: cc });
  const c = r.net.b.counters;
  if (!r.got.equals(r.data)) throw new Error(`seed ${seed}: the download arrived corrupted`);
  tot.ms += r.net.now;
  tot.timeouts += c.timeouts;
  tot.tailLossProbes += c.tailLossProbes;
  tot.fastRecoveries += c.fastRetransmits;
  tot.retransmits += c.retransmits;
  tot.undoDsack += c.undoDsack;
  tot.undoEifel += c.undoEifel;
  tot.undoFrto += c.undoFrto;
  console.log(`seed ${seed}: ${r.net.now.toFixed(1)} ms, timeouts ${c.timeouts}, tail loss probes ${c.tailLossProbes}, fast recoveries ${c.fastRetransmits}, retransmits ${c.retransmits}, undone (dsack/eifel/frto) ${c.undoDsack}/${c.undoEifel}/${c.undoFrto}`);
}
console.log(`${cc}, one-way delay ${delay} ms: ${JSON.stringify({ ...tot, ms: Math.round(tot.ms) })}`);
