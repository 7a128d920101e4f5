/**
 * `npm run conformance`: proves the backend this process selects computes what the reference does.
 *  1. The golden fixtures (test/fixtures/nb201): every proxy against NASLib's own values on stored
 *     weights, batch and zen draws, within each fixture's tolerance.
 *  2. One job per search space (test/fixtures/conformance/jobs.json): every proxy of the job
 *     through computeProxies, against values another backend computed (the file says which:
 *     `hybrid`, whose elementwise, reduction and batch-norm kernels are tfjs's cpu reference
 *     kernels; tfjs's pure-JS `cpu` would take tens of minutes per job here). On wasm, each job
 *     also runs split between 2 heaps (src/core/shards), against the same values and tolerances.
 * Prints the worst relative error per proxy and exits 1 on any mismatch. It runs in CI on wasm and in
 * infra/Dockerfile right after tfjs-node is installed, so an image whose native backend disagrees
 * fails to build. `--update` rewrites the jobs' reference values from the selected backend (run it
 * with `--backend hybrid`); `--backend NAME` forces a backend (default: the first that initialises).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'fs';
import { dirname, join } from 'path';
import { backendSettings } from '../src/config';
import { activeBackend, initBackend, type BackendName } from '../src/core/backend';
import { computeProxies } from '../src/core/compute';
import { PROXIES, type ProxyName, type SpaceName, type TaskName } from '../src/core/names';
import { evaluateFixture, FIXTURE_CASES, withinTolerance } from '../test/helpers/fixtures';

interface Tolerance {
  rel?: number;
  abs?: number;
}

interface ConformanceJob {
  space: SpaceName;
  task: TaskName;
  arch: string;
  batchSize: number;
  proxies: ProxyName[];
  /** Reference values, by proxy (from `reference.backend`). */
  expected?: Partial<Record<ProxyName, number>>;
  /** Backend and date the reference values come from. */
  reference?: { backend: string; date: string };
}

const JOBS_FILE = join(__dirname, '..', 'test', 'fixtures', 'conformance', 'jobs.json');

/**
 * Between backends the kernels sum in different orders. plain and grasp are sums with heavy
 * cancellation (test/fixtures/nb201/README.md measures NASLib's own plain and grasp moving by 1.7e-2
 * and 5e-2 between two memory layouts); epe_nas takes logs of near-singular correlations.
 */
const JOB_TOLERANCE: Record<ProxyName, Tolerance> = {
  params: { rel: 0 },
  flops: { rel: 0 },
  l2_norm: { rel: 1e-5 },
  synflow: { rel: 1e-5 },
  zen: { rel: 1e-3 },
  nwot: { rel: 1e-4 },
  jacov: { rel: 1e-3 },
  epe_nas: { rel: 1e-2 },
  grad_norm: { rel: 2e-3 },
  snip: { rel: 2e-3 },
  fisher: { rel: 5e-3 },
  plain: { rel: 5e-2, abs: 1e-6 },
  grasp: { rel: 5e-2, abs: 1e-6 },
};

/** Worst relative error seen per proxy, and every mismatch. */
class Ledger {
  readonly worst = new Map<ProxyName, { rel: number; where: string }>();
  readonly mismatches: string[] = [];

  record(proxy: ProxyName, where: string, got: number, expected: number, tol: Tolerance): void {
    const rel = got === expected ? 0 : Math.abs(got - expected) / Math.max(Math.abs(expected), Number.MIN_VALUE);
    const prev = this.worst.get(proxy);
    if (!prev || rel > prev.rel || Number.isNaN(rel)) this.worst.set(proxy, { rel, where });
    if (!Number.isFinite(got) || !withinTolerance(got, expected, tol)) {
      this.mismatches.push(`${where} ${proxy}: got ${got}, expected ${expected} (tolerance ${JSON.stringify(tol)})`);
    }
  }
}

function checkFixtures(ledger: Ledger): void {
  for (const name of FIXTURE_CASES) {
    const { fixture, values } = evaluateFixture(name, [...PROXIES]);
    for (const proxy of PROXIES) {
      const want = fixture.proxies[proxy];
      ledger.record(proxy, `fixture ${name}`, values[proxy]!.score, want.value, want.tolerance);
    }
    process.stderr.write(`fixture ${name}: ${PROXIES.length} proxies\n`);
  }
}

async function runJob(job: ConformanceJob, shards?: number): Promise<Partial<Record<ProxyName, number>>> {
  const start = Date.now();
  const r = await computeProxies({ ...job, seed: 0, data: { source: 'synthetic' }, ...(shards !== undefined && { shards }) });
  const on = r.shards ? `${r.backend}, ${r.shards} shards` : r.backend;
  process.stderr.write(`job ${job.space} ${job.task} ${job.arch} @${job.batchSize}: ${((Date.now() - start) / 1000).toFixed(1)} s on ${on}\n`);
  return Object.fromEntries(job.proxies.map((p) => [p, r.results[p]!.score]));
}

function printWorst(ledger: Ledger, backend: string): void {
  process.stdout.write(`conformance on ${backend}: worst relative error per proxy\n`);
  for (const proxy of PROXIES) {
    const w = ledger.worst.get(proxy);
    if (w) process.stdout.write(`  ${proxy.padEnd(10)} ${w.rel.toExponential(2).padStart(10)}  (${w.where})\n`);
  }
}

function parseArgs(argv: string[]): { update: boolean; backend?: BackendName } {
  const update = argv.includes('--update');
  const i = argv.indexOf('--backend');
  return { update, backend: i >= 0 ? (argv[i + 1] as BackendName) : undefined };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const settings = backendSettings();
  await initBackend({ ...settings, backend: args.backend ?? settings.backend });
  const backend = activeBackend();
  const jobs = JSON.parse(readFileSync(JOBS_FILE, 'utf8')) as ConformanceJob[];
  if (args.update) {
    for (const job of jobs) {
      job.expected = await runJob(job);
      job.reference = { backend, date: new Date().toISOString().slice(0, 10) };
    }
    mkdirSync(dirname(JOBS_FILE), { recursive: true });
    writeFileSync(JOBS_FILE, JSON.stringify(jobs, null, 2) + '\n');
    process.stdout.write(`wrote ${JOBS_FILE} from ${backend}\n`);
    return 0;
  }
  const ledger = new Ledger();
  checkFixtures(ledger);
  // On wasm every job runs a second time with its minibatch split between 2 heaps (src/core/shards):
  // the split must agree with the reference as closely as the whole job does.
  // (A one-sample job cannot be split.)
  const splits = (job: ConformanceJob) => (backend === 'wasm' && job.batchSize >= 2 ? [undefined, 2] : [undefined]);
  for (const job of jobs) {
    if (!job.expected) throw new Error(`${JOBS_FILE}: job ${job.space} ${job.arch} has no expected values (run with --update)`);
    for (const shards of splits(job)) {
      const got = await runJob(job, shards);
      const where = `job ${job.space}/${job.task}${shards ? ` (${shards} shards)` : ''}`;
      for (const proxy of job.proxies) ledger.record(proxy, where, got[proxy]!, job.expected[proxy]!, JOB_TOLERANCE[proxy]);
    }
  }
  printWorst(ledger, backend);
  if (ledger.mismatches.length > 0) {
    process.stdout.write(`FAILED: ${ledger.mismatches.length} mismatch(es)\n${ledger.mismatches.map((m) => `  ${m}\n`).join('')}`);
    return 1;
  }
  const splitJobs = jobs.filter((job) => splits(job).length > 1).length;
  const split = splitJobs > 0 ? ` (${splitJobs} also split between 2 heaps)` : '';
  process.stdout.write(`conformance passed: ${FIXTURE_CASES.length} golden fixtures and ${jobs.length} jobs${split} on ${backend}\n`);
  return 0;
}

if (!existsSync(JOBS_FILE)) {
  process.stderr.write(`conformance: ${JOBS_FILE} is missing\n`);
  process.exit(2);
}
main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`conformance: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
