import type { ChildProcess } from 'child_process';
import { Aggregator } from '../src/aggregator/aggregator';
import { segmentsPrefix } from '../src/aggregator/segments';
import { createBuild, markEnqueued } from '../src/queue/build';
import { tripleId } from '../src/queue/ids';
import { AGGREGATOR_GROUP, redisKeys } from '../src/queue/names';
import { writeRows } from '../src/queue/results';
import type { ResultRow } from '../src/storage/rows';
import { listVersionIds, resolveVersion } from '../src/storage/versions';
import { localFingerprint } from '../src/version';
import { runCli, type CliResult } from './helpers/cli';
import { startHarness, until, type Harness } from './helpers/pipeline';
import { S3Proxy } from './helpers/s3-proxy';

/** The build lock changing hands under a paused owner: fenced writes, abandoned entries claimed. */
jest.setTimeout(180_000);

const ARCHS = ['(0, 1, 2, 3, 4, 0)', '(1, 1, 1, 1, 1, 1)', '(2, 2, 2, 2, 2, 2)', '(3, 3, 3, 3, 3, 3)', '(4, 4, 4, 4, 4, 4)', '(0, 0, 0, 0, 0, 0)'];

function rowsOf(dataset: string, archs: readonly string[]): ResultRow[] {
  return archs.map((arch, i) => ({
    tripleId: tripleId({
      dataset,
      space: 'nasbench201',
      task: 'cifar10',
      arch,
      proxy: 'params',
      seed: 0,
      batchSize: 64,
      fingerprint: localFingerprint().id,
      data: 'none',
    }),
    space: 'nasbench201',
    task: 'cifar10',
    arch,
    proxy: 'params',
    seed: 0,
    batchSize: 64,
    status: 'ok',
    score: 0.1 + i,
    time: 0.01,
    backend: 'wasm',
    dataSource: 'none',
    dataSha256: '',
    fingerprint: localFingerprint().id,
  }));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('aggregator lock handover', () => {
  let h: Harness;
  let proxy: S3Proxy;
  beforeAll(async () => {
    h = await startHarness('handover');
    proxy = await S3Proxy.start(h.s3.embedded.endpoint);
  });
  afterAll(async () => {
    await proxy?.close();
    await h?.close();
  });

  async function newBuild(tag: string, count: number): Promise<{ buildId: string; rows: ResultRow[] }> {
    const buildId = `zct-${tag}-${process.pid}`;
    h.buildIds.push(buildId);
    await createBuild(h.redis, h.prefix, { buildId, dataset: buildId, spec: '{}', fingerprint: localFingerprint().id, reuse: 'same-code' });
    await markEnqueued(h.redis, h.prefix, buildId, [{ space: 'nasbench201', task: 'cifar10', proxy: 'params', count }]);
    return { buildId, rows: rowsOf(buildId, ARCHS.slice(0, count)) };
  }

  test('owner paused past its lock TTL, a second takes over, the first resumes: it writes nothing, every row is in one segment, one version', async () => {
    const { buildId, rows } = await newBuild('handover', 6);
    // Every segment written, by either owner, as it went over the wire.
    const segmentPuts: { url: string; tripleIds: string[] }[] = [];
    proxy.onBody = (req, body) => {
      if (req.method === 'PUT' && req.url.includes(`/${segmentsPrefix(buildId)}`)) {
        segmentPuts.push({
          url: req.url,
          tripleIds: body
            .toString('utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => (JSON.parse(l) as ResultRow).tripleId),
        });
      }
    };
    await writeRows(h.redis, h.prefix, buildId, rows.slice(0, 3));

    // Owner A, its own process: short lock TTL, and rows kept 4 s before they are flushed.
    let a: ChildProcess | undefined;
    const env = { ZC_QUEUE_PREFIX: h.prefix, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', S3_ENDPOINT: proxy.endpoint, METRICS_PORT: '0' };
    const aDone: Promise<CliResult> = runCli(['aggregate', buildId, '--until-published', '--lock-ttl-ms', '1500', '--flush-interval-ms', '4000'], {
      env,
      onSpawn: (c) => (a = c),
    });
    const stream = redisKeys(h.prefix).results(buildId);
    await until('A to hold the three rows unflushed', async () => {
      const [count] = (await h.redis.xpending(stream, AGGREGATOR_GROUP).catch(() => [0])) as [number];
      return count === 3 ? true : undefined;
    });
    a!.kill('SIGSTOP');
    let aResult: CliResult = { code: null, stdout: '', stderr: '' };
    const stoppedAt = Date.now();
    try {
      await until("A's lock to expire", async () => ((await h.redis.exists(redisKeys(h.prefix).aggregateLock(buildId))) === 0 ? true : undefined));
      // A's flush is due the moment it runs again.
      await sleep(Math.max(0, stoppedAt + 4500 - Date.now()));

      const b = new Aggregator({
        redis: h.redis,
        prefix: h.prefix,
        store: h.s3.storeAt(proxy.endpoint),
        log: h.log,
        buildIds: [buildId],
        untilPublished: true,
        flushIntervalMs: 100,
        lockTtlMs: 1500,
      });
      const bDone = b.run();
      await until('B to store the rows it claimed from A', async () =>
        (await h.redis.hget(redisKeys(h.prefix).build(buildId), 'aggregated')) === '3' ? true : undefined,
      );
      expect(segmentPuts).toHaveLength(1);
      a!.kill('SIGCONT');
      await sleep(500);
      await writeRows(h.redis, h.prefix, buildId, rows.slice(3));

      const published = await bDone;
      expect(published).toHaveLength(1);
      aResult = await aDone;
    } finally {
      a?.kill('SIGCONT');
    }

    // Each row went to S3 in exactly one segment write, and the build was published once, complete.
    const written = segmentPuts.flatMap((p) => p.tripleIds).sort();
    expect(written).toEqual(rows.map((r) => r.tripleId).sort());
    expect(aResult.code).toBe(0);
    expect(aResult.stdout).not.toContain('published');
    expect(aResult.stderr).toContain('stopped, leaving the build to its next owner');
    expect(await listVersionIds(h.s3.store, buildId)).toEqual(['v1']);
    const { manifest } = await resolveVersion(h.s3.store, buildId);
    expect(manifest.rowCount).toBe(6);
    expect(manifest.coverage).toEqual([expect.objectContaining({ expected: 6, ok: 6, failed: 0 })]);
  });

  test('the lock taken over while a segment is on its way to S3: Redis refuses the acknowledgement, the owner stops, the entries stay pending', async () => {
    const { buildId, rows } = await newBuild('refused', 3);
    const lockKey = redisKeys(h.prefix).aggregateLock(buildId);
    const stream = redisKeys(h.prefix).results(buildId);
    await writeRows(h.redis, h.prefix, buildId, rows);
    // The moment the owner's segment PUT arrives (after its lock check), another holder takes the lock.
    let intruder: string | undefined;
    proxy.onRequest = async (req) => {
      if (intruder === undefined && req.method === 'PUT' && req.url?.includes(`/${segmentsPrefix(buildId)}`)) {
        intruder = 'intruder';
        await h.redis.set(lockKey, intruder, 'PX', 60_000);
      }
      return true;
    };
    const aggregator = new Aggregator({
      redis: h.redis,
      prefix: h.prefix,
      store: h.s3.storeAt(proxy.endpoint),
      log: h.log,
      buildIds: [buildId],
      untilPublished: true,
      flushIntervalMs: 50,
      lockTtlMs: 3000,
    });
    const done = aggregator.run();
    try {
      await until('the segment PUT', async () => intruder);
      await sleep(1000);
      // Nothing acknowledged under a lock the owner no longer holds; nothing published.
      const [pending] = (await h.redis.xpending(stream, AGGREGATOR_GROUP)) as [number];
      expect(pending).toBe(3);
      expect(await h.redis.hget(redisKeys(h.prefix).build(buildId), 'aggregated')).toBeNull();
      expect(await h.redis.get(lockKey)).toBe('intruder');
      // The intruder goes away: the build is taken again and published from what S3 and the stream hold.
      await h.redis.del(lockKey);
      const published = await done;
      expect(published).toHaveLength(1);
      expect(published[0]!.result.manifest.rowCount).toBe(3);
    } finally {
      proxy.onRequest = () => true;
      aggregator.stop();
      await done;
    }
  });

  test('entries another consumer reads after the owner loaded are claimed by the owner, not only at load', async () => {
    const { buildId, rows } = await newBuild('abandoned', 3);
    const stream = redisKeys(h.prefix).results(buildId);
    const aggregator = new Aggregator({
      redis: h.redis,
      prefix: h.prefix,
      store: h.s3.store,
      log: h.log,
      buildIds: [buildId],
      untilPublished: true,
      flushIntervalMs: 50,
      lockTtlMs: 1500,
    });
    const done = aggregator.run();
    await until('the owner to load the build', async () => {
      const locked = (await h.redis.exists(redisKeys(h.prefix).aggregateLock(buildId))) === 1;
      const groups = locked ? ((await h.redis.xinfo('GROUPS', stream).catch(() => [])) as unknown[]) : [];
      return groups.length > 0 ? true : undefined;
    });
    // A stale owner reads the rows as they arrive (one transaction: the owner's blocking read cannot get them first), then goes away.
    const tx = h.redis.multi();
    for (const r of rows) tx.xadd(stream, '*', 'row', JSON.stringify(r));
    tx.xreadgroup('GROUP', AGGREGATOR_GROUP, 'stale-owner', 'COUNT', 10, 'STREAMS', stream, '>');
    const replies = (await tx.exec())!;
    expect((replies[rows.length]![1] as [string, unknown[]][])[0]![1]).toHaveLength(3);

    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        aggregator.stop();
        reject(new Error('the owner never claimed the entries the stale consumer holds'));
      }, 20_000);
    });
    try {
      const published = await Promise.race([done, timeout]);
      expect(published).toHaveLength(1);
      expect(published[0]!.result.manifest.rowCount).toBe(3);
    } finally {
      clearTimeout(timer);
      await done;
    }
  });
});
