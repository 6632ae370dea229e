/**
 * One flag convention for every subcommand, on Node's own parser (util.parseArgs): `--help`/`-h`,
 * `--flag=value` and `--flag value`, short aliases where declared, and every problem (an unknown
 * flag, with the list of valid ones; a missing value; a value given to a switch; a stray argument)
 * reported at once as a FlagError (exit code 2, the usage-error convention of our commands).
 */
import { parseArgs } from 'node:util';

export interface FlagSpec {
  /** long name without the dashes: 'prefix' for --prefix */
  name: string;
  /** one-letter alias without the dash: 'n' for -n */
  short?: string;
  /** placeholder of the value ('P', 'SECONDS'); absent for a switch */
  value?: string;
  help: string;
}

export class FlagError extends Error {
  readonly code = 'EINVAL';
  readonly exitCode = 2;
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'FlagError';
  }
}

export const HELP_FLAG: FlagSpec = { name: 'help', short: 'h', help: 'this text' };

export interface ParsedFlags {
  /** string values of value flags, true for switches given; absent when not given */
  values: Record<string, string | true>;
  positionals: string[];
  help: boolean;
}

/**
 * Parses `args` against `specs` (--help is always accepted). `positionals`: how many plain
 * arguments are allowed (default 0). Throws FlagError listing every problem.
 */
export function parseFlags(args: string[], specs: FlagSpec[], opts: { positionals?: number } = {}): ParsedFlags {
  const all = specs.some((s) => s.name === 'help') ? specs : [...specs, HELP_FLAG];
  const byName = new Map(all.map((s) => [s.name, s]));
  const byShort = new Map(all.filter((s) => s.short).map((s) => [s.short!, s]));
  const options = Object.fromEntries(
    all.map((s) => [s.name, { type: s.value ? ('string' as const) : ('boolean' as const), ...(s.short ? { short: s.short } : {}) }]),
  );
  const { tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  const valid = all.map((s) => `--${s.name}`).join(' ');
  const problems: string[] = [];
  const values: Record<string, string | true> = {};
  const positionals: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') {
      positionals.push(t.value);
      continue;
    }
    if (t.kind !== 'option') continue;
    const spec = t.rawName.startsWith('--') ? byName.get(t.name) : byShort.get(t.rawName.slice(1)) ?? byName.get(t.name);
    if (!spec) {
      problems.push(`unknown option ${t.rawName}; valid options: ${valid}`);
      continue;
    }
    if (!spec.value) {
      if (t.inlineValue) problems.push(`--${spec.name} takes no value`);
      else values[spec.name] = true;
      continue;
    }
    // `--master --vlan 5`: the parser would take "--vlan" as the value of --master
    const looksLikeFlag = !t.inlineValue && typeof t.value === 'string' && /^--?[a-z]/i.test(t.value) && (byName.has(t.value.replace(/^--?/, '').split('=')[0]!) || byShort.has(t.value.slice(1)));
    if (t.value === undefined || looksLikeFlag) {
      problems.push(`--${spec.name} needs a value (${spec.value})`);
      continue;
    }
    values[spec.name] = t.value;
  }
  const allowed = opts.positionals ?? 0;
  if (positionals.length > allowed) {
    const extra = positionals.slice(allowed).map((p) => JSON.stringify(p)).join(' ');
    problems.push(allowed === 0 ? `unexpected argument ${extra}; valid options: ${valid}` : `unexpected argument ${extra}`);
  }
  const help = values['help'] === true;
  if (problems.length && !help) throw new FlagError(problems);
  return { values, positionals, help };
}

/** The options section of a usage text: one line per flag, aligned. */
export function flagHelp(specs: FlagSpec[]): string[] {
  const all = specs.some((s) => s.name === 'help') ? specs : [...specs, HELP_FLAG];
  const left = (s: FlagSpec) => `${s.short ? `-${s.short}, ` : ''}--${s.name}${s.value ? ` ${s.value}` : ''}`;
  const width = Math.max(...all.map((s) => left(s).length)) + 2;
  return all.map((s) => `  ${left(s).padEnd(width)}${s.help}`);
}
