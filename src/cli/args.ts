import { InputError } from '../errors';

/** Parsed command line: positionals and `--name value` / `--flag` options. */
export interface ParsedArgs {
  positionals: string[];
  options: Map<string, string | true>;
}

export interface OptionSpec {
  /** Option name without dashes. */
  name: string;
  /** true: takes a value (`--seed 3` or `--seed=3`); false: a boolean flag. */
  value: boolean;
  description: string;
  /** Other names accepted for it (not shown in help): `--proxy` for `--proxies`. */
  aliases?: readonly string[];
}

/** The proxy selection option of every command that takes one; `--proxy` is accepted too. */
export const PROXIES_OPTION: OptionSpec = {
  name: 'proxies',
  value: true,
  description: 'only these proxies, comma-separated (alias --proxy)',
  aliases: ['proxy'],
};

/** Parse argv against the command's declared options; unknown options are an InputError. */
export function parseArgs(argv: string[], specs: OptionSpec[]): ParsedArgs {
  const byName = new Map(specs.flatMap((s) => [s.name, ...(s.aliases ?? [])].map((n) => [n, s] as const)));
  const positionals: string[] = [];
  const options = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const spec = byName.get(name);
    if (!spec) {
      throw new InputError('option', `--${name}`, `valid: ${specs.map((s) => `--${s.name}`).join(', ') || 'none'}`);
    }
    if (!spec.value) {
      if (eq >= 0) throw new InputError(`--${name}`, arg.slice(eq + 1), 'a flag takes no value');
      options.set(spec.name, true);
      continue;
    }
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new InputError(`--${name}`, undefined, 'a value is required');
    options.set(spec.name, value);
  }
  return { positionals, options };
}

export function optString(args: ParsedArgs, name: string): string | undefined {
  const v = args.options.get(name);
  return typeof v === 'string' ? v : undefined;
}

export function optFlag(args: ParsedArgs, name: string): boolean {
  return args.options.get(name) === true;
}

/** An integer option with a lower bound, e.g. `--batch-size` ≥ 1. */
export function optInt(args: ParsedArgs, name: string, min: number): number | undefined {
  const v = optString(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new InputError(`--${name}`, v, `an integer ≥ ${min}`);
  }
  return n;
}
