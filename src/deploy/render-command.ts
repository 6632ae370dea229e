/**
 * `vpp-server render`: prints every object of the deployment as YAML, deterministically
 * (`make kustomize`). Needs no cluster: the platform is OpenShift unless --kubernetes is given.
 */
import { buildManifests, tlsNotes, toYaml, validateAll } from './manifests.js';
import { COMMON_FLAGS, parseCommandOptions, reportValueError, usage } from './options.js';
import { ValueError } from './values.js';

const SUMMARY = 'Prints the Kubernetes objects of the deployment as YAML (validated against their schemas).';

/** The YAML `render` prints for `args` (exported for tests). */
export function renderToString(args: string[], env: Record<string, string | undefined> = process.env): string {
  const opts = parseCommandOptions(args, env, COMMON_FLAGS);
  const objects = buildManifests(opts.config);
  validateAll(objects);
  return toYaml(objects);
}

export async function main(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(usage('render', SUMMARY, COMMON_FLAGS));
    return 0;
  }
  try {
    process.stdout.write(renderToString(args));
    // Notes go to stderr: stdout is the YAML (make kustomize OUT=… stays clean).
    for (const n of tlsNotes(parseCommandOptions(args, process.env, COMMON_FLAGS).config)) console.error(n);
    return 0;
  } catch (err) {
    if (err instanceof ValueError) return reportValueError('render', err);
    throw err;
  }
}
