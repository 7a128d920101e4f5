import type { OptionSpec } from './args';

/** One `zcbench <name>` command. Commands are thin: parse, call the layer below, print. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: OptionSpec[];
  /** Returns the process exit code. */
  run(argv: string[]): Promise<number>;
}
