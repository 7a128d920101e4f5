import { exitCodeOf, isUserFacing } from '../errors';
import { logger } from '../log';
import { localFingerprint, PACKAGE_VERSION } from '../version';
import type { Command } from './command';

/**
 * Command registry: each command lives in `./commands/<name>.ts`; add one line here.
 * Commands are loaded lazily so that `zcbench ls` does not pay for TensorFlow start-up.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- the lazy loading said above */
const COMMANDS: Record<string, () => Command> = {
  compute: () => require('./commands/compute').command,
  dashboard: () => require('./commands/dashboard').command,
  produce: () => require('./commands/produce').command,
  work: () => require('./commands/work').command,
  aggregate: () => require('./commands/aggregate').command,
  run: () => require('./commands/run').command,
  status: () => require('./commands/status').command,
  cancel: () => require('./commands/cancel').command,
  ls: () => require('./commands/ls').command,
  pull: () => require('./commands/pull').command,
  query: () => require('./commands/query').command,
  'import-naslib': () => require('./commands/import-naslib').command,
  'set-latest': () => require('./commands/set-latest').command,
  report: () => require('./commands/report').command,
  compare: () => require('./commands/compare').command,
  data: () => require('./commands/data').command,
};
/* eslint-enable @typescript-eslint/no-require-imports */

/**
 * Long-running services whose JSON log lines are their output. Every other command talks to
 * people: its logs stay off unless LOG_LEVEL asks for them (its errors arrive as one line).
 */
const SERVICES = new Set(['work', 'aggregate', 'dashboard']);

function help(): string {
  const lines = ['usage: zcbench <command> [options]   (zcbench --version: the code version)', '', 'commands:'];
  for (const [name, load] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(14)} ${load().summary}`);
  lines.push('', 'Run `zcbench <command> --help` for its options.');
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help() + '\n');
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`zcbench ${PACKAGE_VERSION} (compute fingerprint ${localFingerprint().id})\n`);
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`zcbench: unknown command ${JSON.stringify(name)} (valid: ${Object.keys(COMMANDS).join(', ')})\n`);
    return 2;
  }
  const command = load();
  if (!process.env.LOG_LEVEL && !SERVICES.has(name)) logger.level = 'silent';
  if (rest.includes('--help') || rest.includes('-h')) {
    const opts = command.options.map((o) => `  --${o.name}${o.value ? ' VALUE' : ''}`.padEnd(28) + o.description);
    process.stdout.write([`usage: ${command.usage}`, '', command.summary, '', 'options:', ...opts].join('\n') + '\n');
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (isUserFacing(err)) {
      process.stderr.write(`zcbench ${name}: ${err.message}\n`);
    } else {
      process.stderr.write(`zcbench ${name}: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    return exitCodeOf(err);
  }
}

/** Entry point of the `zcbench` binary. */
export function runCli(): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`zcbench: ${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

if (require.main === module) runCli();
