import { TASKS } from '../src/core/names';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { estimateJobMemory } from '../src/core/compute';
import { dryRun, type DryRunResult } from '../src/producer/dry-run';
import { expandMessages } from '../src/producer/producer';
import { tripleIdsOf } from '../src/queue/ids';
import { openQueue } from '../src/queue/queues';
import { runCli } from './helpers/cli';
import { startHarness, type Harness } from './helpers/pipeline';

/** `zcbench produce --dry-run`: what would be enqueued and what it would need, enqueueing nothing. */
jest.setTimeout(120_000);

const SPEC = { spaces: ['nasbench201'], tasks: ['cifar10'], proxies: ['params', 'flops', 'synflow', 'snip'], archs: { sample: 4, seed: 3 } } as const;
/** Every job of SPEC fits this without recomputing segments (NB201 at batch 64: ≤ 3.1 GiB). */
const LIGHT = 4096 * 2 ** 20;
const HEAVY = 8192 * 2 ** 20;

let h: Harness;
beforeAll(async () => {
  h = await startHarness('dry-run');
});
afterAll(() => h.close());

const SYNTHETIC = new Map(TASKS.map((t) => [t, 'synthetic']));

test("the dry run says what produce then enqueues, minus what the base version holds, and the jobs' memory plans", async () => {
  const plan = h.plan({ dataset: `zct-dry-${process.pid}`, ...SPEC, proxies: [...SPEC.proxies] });
  // The base version holds every triple of the first architecture.
  const [firstArch] = [...expandMessages(plan, SYNTHETIC)].flatMap((e) => e.messages).map((m) => m.payload.arch);
  const base = new Set<string>();
  for (const { messages } of expandMessages(plan, SYNTHETIC))
    for (const m of messages) if (m.payload.arch === firstArch) for (const id of Object.values(tripleIdsOf(m.payload, m.payload.arch!))) base.add(id);
  const dry = await dryRun(plan, { lightBytes: LIGHT, heavyBytes: HEAVY }, { tripleIds: base, fingerprints: [plan.fingerprint] });
  expect(dry).toMatchObject({ specTriples: 16, heldByBase: 4, toCompute: 12, halvedBatch: 0, overHeavyBudget: 0 });
  expect(dry.pools.light).toMatchObject({ messages: 3, triples: 12, shapeOnlyMessages: 0 });
  expect(dry.pools.heavy).toMatchObject({ messages: 0, triples: 0 });
  const archs = [...expandMessages(plan, SYNTHETIC, { tripleIds: base, fingerprints: [plan.fingerprint] })]
    .flatMap((e) => e.messages)
    .map((m) => m.payload.arch!);
  const peaks = archs
    .map((arch) => estimateJobMemory({ space: 'nasbench201', task: 'cifar10', arch, batchSize: 64, proxies: ['params', 'flops', 'synflow', 'snip'] }))
    .sort((a, b) => a - b);
  expect(dry.pools.light.maxPeakBytes).toBe(peaks[2]);
  expect(dry.pools.light.medianPeakBytes).toBe(peaks[1]);

  const light = openQueue('light', h.redis, h.prefix);
  try {
    expect(await light.count()).toBe(0);
    const produced = await h.produce(plan, { tripleIds: base, fingerprints: [plan.fingerprint] });
    expect(produced).toMatchObject({
      expected: dry.toCompute,
      skippedBase: dry.heldByBase,
      enqueuedMessages: dry.pools.light.messages + dry.pools.heavy.messages,
      enqueuedTriples: 12,
    });
  } finally {
    await light.obliterate({ force: true });
    await light.close();
  }
});

test('jobs over the light budget are counted on the heavy pool, as a worker would move them', async () => {
  const plan = h.plan({ dataset: `zct-dry-heavy-${process.pid}`, ...SPEC, proxies: ['synflow', 'snip'] });
  const dry: DryRunResult = await dryRun(plan, { lightBytes: 64 * 2 ** 20, heavyBytes: HEAVY });
  expect(dry.pools.light.messages).toBe(0);
  expect(dry.pools.heavy).toMatchObject({ messages: 4, triples: 8 });
  const tiny = await dryRun(plan, { lightBytes: 2 ** 20, heavyBytes: 2 ** 20 });
  expect(tiny.overHeavyBudget).toBe(4);
});

test('`zcbench produce --dry-run` needs no Redis and enqueues nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zct-dry-'));
  try {
    const file = join(dir, 'spec.json');
    writeFileSync(file, JSON.stringify({ dataset: 'zct-dry-cli', ...SPEC }));
    const env = { REDIS_URL: 'redis://127.0.0.1:1', ZC_WORKER_MEMORY_MB: '3072', ZC_HEAVY_MEMORY_MB: '8192' };
    const json = await runCli(['produce', '--spec', file, '--dry-run', '--json'], { env });
    expect(json.code).toBe(0);
    const r = JSON.parse(json.stdout) as DryRunResult;
    expect(r).toMatchObject({ dataset: 'zct-dry-cli', specTriples: 16, heldByBase: 0, toCompute: 16 });
    expect(r.pools.light.messages + r.pools.heavy.messages).toBe(4);
    const text = await runCli(['produce', '--spec', file, '--dry-run'], { env });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^dry run of build zct-dry-cli-[0-9a-f]+ \(dataset zct-dry-cli\): nothing enqueued\n {2}triples: 16 in the spec, no base version, 16 to compute\n {2}zc-light: 4 messages \(16 triples; 0 shape-only, 4 tensor jobs: planned peak max \d+ MiB, median \d+ MiB; budget 3072 MiB per job\)\n/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
