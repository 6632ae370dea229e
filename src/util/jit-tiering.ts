/**
 * V8's tier-up thresholds for the dataplane process (`vpp-server run`; V8 flags are per process,
 * so worker threads share them). Set here, at run time, so that the container's entrypoint, the
 * Deployment's command, the lab and the bench all get them without a node command-line flag (a
 * file-capability node ignores NODE_OPTIONS).
 *
 * Why: by default V8 optimizes a function with TurboFan only after it has run through its
 * interrupt budget (66 KiB of bytecode) 3 + bytecode length / 150 times, and not before 500 calls
 * since its inline caches last changed. A path that runs a few hundred times a second, such as an
 * echo reply to `ping -i 0.01`, stayed in Sparkplug baseline code for thousands of packets: perf
 * on the flat path after 800 pings showed runIcmpInput, runIp4Input, runEthernetInput, input,
 * commit and transmit as baseline frames calling the generic LoadIC/StoreIC/Call builtins
 * (`--trace-opt`: none of them optimized), at ~250-300 µs of CPU per ping under load. With these
 * two thresholds lowered, the same functions are optimized within the bench's 500 warm-up pings
 * (docs/bench.md, "Ping"). Hot paths are optimized either way; only the time to get there
 * changes.
 */
import { setFlagsFromString } from 'node:v8';

export const DATAPLANE_V8_FLAGS: readonly string[] = ['--interrupt-budget=8192', '--minimum-invocations-after-ic-update=50'];

let applied = false;

/** Applies DATAPLANE_V8_FLAGS once, before the dataplane's code first runs. */
export function applyDataplaneV8Flags(): void {
  if (applied) return;
  applied = true;
  for (const flag of DATAPLANE_V8_FLAGS) setFlagsFromString(flag);
}
