/**
 * The dataplane's V8 young-generation cap, in one place (review r/perf finding 6).
 *
 * `--max-semi-space-size=8` (DATAPLANE_NODE_FLAGS, src/deploy/manifests.ts) caps each semi-space
 * at 8 MiB, on the main thread and in every worker, when it is on node's command line (the image's
 * ENTRYPOINT, the Deployment, the lab, the bench). A bare `vpp-server run` (bin/vpp-server.js,
 * `#!/usr/bin/env node`) has no such flag, and NODE_OPTIONS is ignored by a binary with file
 * capabilities: the pool's workers then get the same cap from their resourceLimits instead, and
 * only the main thread keeps V8's default (semi-spaces up to 16 MiB each; V8 sizes that heap before
 * any JS runs). A flag on the command line wins over resourceLimits, so
 * `BENCH_NODE_FLAGS=--max-semi-space-size=16` still measures V8's default in the workers too.
 */
import type { ResourceLimits } from 'node:worker_threads';

/** Semi-space size (MiB) of the dataplane: the young generation holds at most 2 × this. */
export const DATAPLANE_SEMI_SPACE_MB = 8;

/**
 * Worker isolates' limits: V8 sizes a young generation as 3 semi-spaces (two semi-spaces and the
 * new large-object space), so 24 MiB means 8 MiB semi-spaces (measured: a churning worker's
 * new space stays at 16 MiB with 24, grows to 32 MiB without; test/unit/heap-limits.test.ts).
 */
export const WORKER_RESOURCE_LIMITS: Readonly<ResourceLimits> = Object.freeze({ maxYoungGenerationSizeMb: 3 * DATAPLANE_SEMI_SPACE_MB });
