/**
 * `npm run demo:extend`: a suite extended incrementally (docs/operations.md "Extending a dataset").
 *   1. import NASLib's NB201 subset (test/fixtures/reference): val_accuracy and NASLib's 13 values;
 *   2. build the paper's 13 proxies on N cells (baseVersion: the import);
 *   3. build zico, meco, swap, az_nas and a user proxy module (examples/proxies/weight-count.ts,
 *      spec `proxyModules`) on the same cells with baseVersion step 2's version: the producer's
 *      counts show only the new columns computed, the 13 held by the base; `zcbench query` shows
 *      one cell's columns, weight_count (= params × 1e6) among them;
 *   4. `zcbench report` of the last version: Figure 2's heatmap has the new columns (az_nas's combined
 *      score derived at publish time).
 * Needs REDIS_URL; the store is an embedded s3rver under ZC_HOME (default: a fresh temporary folder).
 */
import { spawnSync } from 'child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

const ROOT = join(__dirname, '..');
const N = Number(process.env.DEMO_CELLS ?? 8);
const DATASET = 'zc-extend';
const home = process.env.ZC_HOME ?? mkdtempSync(join(tmpdir(), 'zc-extend-'));
// The demo's own embedded workers (`zcbench run`) run the example module: it is this repository's code.
const env = { ...process.env, ZC_HOME: home, ZC_FROM_SOURCE: '1', ZC_ALLOW_PROXY_MODULES: '1' };
const MODULE = join(ROOT, 'examples/proxies/weight-count.ts');
const subset = join(ROOT, 'test/fixtures/reference/zc_nasbench201_subset.json');

function zcbench(...args: string[]): string {
  process.stderr.write(`\n$ zcbench ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/zcbench.js'), ...args], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  process.stdout.write(r.stdout);
  if (r.status !== 0) throw new Error(`zcbench ${args[0]} exited ${r.status}`);
  return r.stdout;
}

const latestVersion = (out: string): string => {
  const m = /@(v\d+)/.exec(out) ?? /\b(v\d+)\b/.exec(out);
  if (!m) throw new Error(`no version in:\n${out}`);
  return m[1]!;
};

function spec(name: string, proxies: string[] | 'all', baseVersion: string, proxyModules?: string[]): string {
  // The subset holds -Infinity (not JSON.parse's); its first task is cifar10, whose cells come first.
  const archs = [...new Set([...readFileSync(subset, 'utf8').matchAll(/"(\([0-4](?:, [0-4]){5}\))": \{"idx"/g)].map((m) => m[1]!))].slice(0, N);
  const file = join(home, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      { dataset: DATASET, spaces: ['nasbench201'], tasks: ['cifar10'], proxies, archs, seeds: [0], batchSize: { default: 8 }, baseVersion, proxyModules },
      null,
      2,
    ),
  );
  return file;
}

const imported = latestVersion(zcbench('import-naslib', subset, '--dataset', DATASET, '--space', 'nasbench201'));
const v13 = latestVersion(zcbench('run', '--spec', spec('extend-13', 'all', imported)));
const vNew = latestVersion(
  zcbench(
    'run',
    '--spec',
    spec(
      'extend-new',
      [
        'epe_nas',
        'fisher',
        'flops',
        'grad_norm',
        'grasp',
        'jacov',
        'l2_norm',
        'nwot',
        'params',
        'plain',
        'snip',
        'synflow',
        'zen',
        'zico',
        'meco',
        'swap',
        'az_nas',
      ],
      v13,
      [MODULE],
    ),
  ),
);
const firstArch = /"(\([0-4](?:, [0-4]){5}\))": \{"idx"/.exec(readFileSync(subset, 'utf8'))![1]!;
zcbench('query', `${DATASET}@${vNew}`, '--space', 'nasbench201', '--task', 'cifar10', '--arch', firstArch);
zcbench('report', `${DATASET}@${vNew}`, '--out', join(home, 'report'));
process.stdout.write(
  `\nversions: ${imported} (import), ${v13} (the 13 on ${N} cells), ${vNew} (+ zico, meco, swap, az_nas and the module weight_count); report in ${join(home, 'report')}\n`,
);
