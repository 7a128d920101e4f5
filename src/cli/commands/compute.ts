import { backendSettings } from '../../config';
import { initBackend } from '../../core/backend';
import { computeProxies } from '../../core/compute';
import { defaultBatchSize, parseComputeProxyList, parseSpace, parseTask, type BuiltInProxyName } from '../../core/names';
import type { ComputeResult, DataSpec } from '../../core/types';
import { InputError } from '../../errors';
import { checkModuleNames, loadProxyModule, type LoadedProxyModule } from '../../plugins/proxy-module';
import { optFlag, optInt, optString, parseArgs } from '../args';
import type { Command } from '../command';

const OPTIONS = [
  { name: 'space', value: true, description: 'search space (nasbench201, ...)' },
  { name: 'task', value: true, description: 'task (cifar10, cifar100, ImageNet16-120, ...)' },
  { name: 'arch', value: true, description: 'architecture string as NASLib writes it, e.g. "(0, 2, 3, 2, 3, 1)"' },
  { name: 'proxies', value: true, description: '"all" (default) or a comma-separated list (alias --proxy)', aliases: ['proxy'] },
  { name: 'seed', value: true, description: 'seed of weights, minibatch and random draws (default 0)' },
  { name: 'batch-size', value: true, description: 'minibatch size (default 64; 32 for Taskonomy tasks)' },
  { name: 'data', value: true, description: '"synthetic" (default) or a path to CIFAR binary / .npy data' },
  { name: 'proxy-module', value: true, description: 'comma-separated files of user proxies (docs/writing-a-proxy.md); alone, only they are computed' },
  {
    name: 'shards',
    value: true,
    description: "split the backward passes' minibatch between N wasm heaps, one thread each (default: only a job beyond one heap; 1: never)",
  },
  { name: 'json', value: false, description: 'print one JSON object instead of a table' },
] as const;

function required(value: string | undefined, name: string, expected: string): string {
  if (value === undefined) throw new InputError(`--${name}`, undefined, expected);
  return value;
}

function table(result: ComputeResult): string {
  const lines = [
    `${result.space} ${result.task} ${result.arch}  seed ${result.seed}  batch ${result.batchSize}  backend ${result.backend}${result.shards ? ` (${result.shards} shards)` : ''}`,
    `data: ${result.data.source}${result.data.sha256 ? ` (sha256 ${result.data.sha256.slice(0, 16)}…)` : ''}`,
    '',
    `${'proxy'.padEnd(10)} ${'score'.padStart(22)} ${'time (s)'.padStart(10)}`,
  ];
  for (const [name, r] of Object.entries(result.results)) {
    lines.push(`${name.padEnd(10)} ${String(r!.score).padStart(22)} ${r!.time.toFixed(3).padStart(10)}`);
  }
  for (const [name, r] of Object.entries(result.moduleResults ?? {})) {
    lines.push('error' in r ? `${name.padEnd(10)} failed: ${r.error}` : `${name.padEnd(10)} ${String(r.score).padStart(22)} ${r.time.toFixed(3).padStart(10)}`);
  }
  return lines.join('\n');
}

/** The JSON result with each module's source file and sha256 (what a row of it would carry). */
function withModuleSources(
  result: ComputeResult,
  loaded: readonly LoadedProxyModule[],
): ComputeResult & { modules?: { name: string; file: string; sha256: string }[] } {
  if (loaded.length === 0) return result;
  return { ...result, modules: loaded.map((m) => ({ name: m.definition.name, file: m.file, sha256: m.sha256 })) };
}

export const command: Command = {
  name: 'compute',
  summary: 'compute zero-cost proxies of one architecture on one task',
  usage:
    'zcbench compute --space S --task T --arch A [--proxies all|a,b] [--proxy-module FILE[,FILE]] [--seed N] [--batch-size N] [--data synthetic|PATH] [--shards N] [--json]',
  options: [...OPTIONS],
  async run(argv) {
    const args = parseArgs(argv, [...OPTIONS]);
    if (args.positionals.length > 0) throw new InputError('argument', args.positionals[0], 'compute takes only --options');
    const space = parseSpace(required(optString(args, 'space'), 'space', 'a search space, e.g. nasbench201'), '--space');
    const task = parseTask(required(optString(args, 'task'), 'task', 'a task, e.g. cifar10'), space, '--task');
    const arch = required(optString(args, 'arch'), 'arch', 'an architecture string, e.g. "(0, 2, 3, 2, 3, 1)"');
    const modulePaths = (optString(args, 'proxy-module') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    const loaded = await Promise.all(modulePaths.map((path) => loadProxyModule(path)));
    checkModuleNames(loaded);
    const proxiesArg = optString(args, 'proxies') ?? (loaded.length > 0 ? undefined : 'all');
    const proxies: BuiltInProxyName[] = proxiesArg === undefined ? [] : parseComputeProxyList(proxiesArg, task, '--proxies');
    const seed = optInt(args, 'seed', 0) ?? 0;
    const batchSize = optInt(args, 'batch-size', 1) ?? defaultBatchSize(task);
    const shards = optInt(args, 'shards', 1);
    const dataArg = optString(args, 'data') ?? 'synthetic';
    const data: DataSpec = dataArg === 'synthetic' ? { source: 'synthetic' } : { source: 'path', path: dataArg };
    await initBackend(backendSettings());
    const modules = loaded.length > 0 ? [...new Map(loaded.map((m) => [m.definition.name, m.definition])).values()] : undefined;
    const result = await computeProxies({ space, task, arch, proxies, modules, seed, batchSize, data, ...(shards !== undefined && { shards }) });
    process.stdout.write((optFlag(args, 'json') ? JSON.stringify(withModuleSources(result, loaded)) : table(result)) + '\n');
    // A module that threw is reported with the others' values, and the exit status says so.
    return Object.values(result.moduleResults ?? {}).some((r) => 'error' in r) ? 1 : 0;
  },
};
