/**
 * VPP-style command registry: commands are paths of keywords ("show interface address"),
 * every keyword may be abbreviated to any unambiguous prefix ("sh int addr"), and the words
 * after the path are the command's arguments.
 */

export class CommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandError';
  }
}

/** The words after a command's path, with helpers for VPP's keyword/value syntax. */
export class Args {
  private i = 0;

  constructor(
    readonly words: readonly string[],
    /** The command path, for error messages. */
    readonly command: string,
  ) {}

  get done(): boolean {
    return this.i >= this.words.length;
  }

  peek(): string | undefined {
    return this.words[this.i];
  }

  /** The next word, or an error naming what was expected. */
  next(what: string): string {
    const w = this.words[this.i];
    if (w === undefined) throw new CommandError(`missing ${what}`);
    this.i++;
    return w;
  }

  /** Consumes the next word if it abbreviates `keyword` (at least `minLength` letters). */
  accept(keyword: string, minLength = 1): boolean {
    const w = this.words[this.i];
    if (w !== undefined && matchesKeyword(w, keyword, minLength)) {
      this.i++;
      return true;
    }
    return false;
  }

  /** Consumes one of the keywords (abbreviations allowed) or fails listing them. */
  oneOf<const K extends string>(what: string, keywords: readonly K[]): K {
    const w = this.next(`${what} (valid: ${keywords.join(', ')})`);
    const hits = keywords.filter((k) => matchesKeyword(w, k));
    const exact = keywords.find((k) => k === w);
    if (exact !== undefined) return exact;
    if (hits.length === 1) return hits[0];
    throw new CommandError(`${hits.length > 1 ? 'ambiguous' : 'unknown'} ${what} \`${w}' (valid: ${keywords.join(', ')})`);
  }

  integer(what: string, min: number, max: number): number {
    const w = this.next(`${what} (expected an integer ${min}-${max})`);
    if (!/^\d+$/.test(w) || Number(w) < min || Number(w) > max) {
      throw new CommandError(`${what} \`${w}' is not valid (expected an integer ${min}-${max})`);
    }
    return Number(w);
  }

  /** Fails if words are left over. */
  end(): void {
    if (!this.done) throw new CommandError(`unknown input \`${this.words.slice(this.i).join(' ')}'`);
  }
}

export function matchesKeyword(word: string, keyword: string, minLength = 1): boolean {
  return word.length >= minLength && word.length <= keyword.length && keyword.startsWith(word.toLowerCase());
}

export type CommandResult = string | void;

export interface CommandSpec<C> {
  /** Keyword path, e.g. "show interface address". */
  path: string;
  /** VPP's short help: the syntax in one line. */
  help: string;
  run(args: Args, context: C): CommandResult | Promise<CommandResult>;
}

interface TreeNode<C> {
  readonly children: Map<string, TreeNode<C>>;
  spec?: CommandSpec<C>;
}

export interface Resolved<C> {
  spec: CommandSpec<C>;
  args: Args;
}

export class CommandRegistry<C> {
  private readonly root: TreeNode<C> = { children: new Map() };
  private readonly specs: CommandSpec<C>[] = [];

  register(spec: CommandSpec<C>): void {
    let node = this.root;
    for (const word of spec.path.split(' ')) {
      let child = node.children.get(word);
      if (child === undefined) {
        child = { children: new Map() };
        node.children.set(word, child);
      }
      node = child;
    }
    if (node.spec !== undefined) throw new Error(`command '${spec.path}' registered twice`);
    node.spec = spec;
    this.specs.push(spec);
  }

  all(): readonly CommandSpec<C>[] {
    return [...this.specs].sort((a, b) => a.path.localeCompare(b.path));
  }

  /** Finds the command a line of words names, or throws a CommandError saying what is valid. */
  resolve(words: readonly string[]): Resolved<C> {
    let node = this.root;
    let best: { spec: CommandSpec<C>; at: number } | undefined;
    let i = 0;
    const path: string[] = [];
    for (; i < words.length; i++) {
      const word = words[i].toLowerCase();
      const exact = node.children.get(word);
      const hits = exact !== undefined ? [[word, exact] as const] : [...node.children].filter(([k]) => k.startsWith(word));
      if (hits.length !== 1) {
        if (hits.length > 1 && node.spec === undefined) {
          throw new CommandError(`ambiguous input \`${words[i]}' after '${path.join(' ') || '(start)'}' (could be: ${hits.map(([k]) => k).join(', ')})`);
        }
        break;
      }
      path.push(hits[0][0]);
      node = hits[0][1];
      if (node.spec !== undefined) best = { spec: node.spec, at: i + 1 };
    }
    // A command whose path is a prefix of a longer one ("show interface" vs "show interface
    // address") takes the rest as arguments when the longer path did not match.
    if (node.spec !== undefined) return { spec: node.spec, args: new Args(words.slice(i), node.spec.path) };
    if (best !== undefined) return { spec: best.spec, args: new Args(words.slice(best.at), best.spec.path) };
    const valid = [...node.children.keys()].sort().join(', ');
    const where = path.length === 0 ? '' : ` after '${path.join(' ')}'`;
    throw new CommandError(`${i < words.length ? `unknown input \`${words.slice(i).join(' ')}'` : 'incomplete command'}${where} (valid: ${valid})`);
  }
}

/** Splits a command line into words; '#' starts a comment. */
export function tokenize(line: string): string[] {
  const hash = line.indexOf('#');
  const text = hash >= 0 ? line.slice(0, hash) : line;
  return text.split(/\s+/).filter((w) => w.length > 0);
}
