import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { startEmbeddedS3, type EmbeddedS3 } from '../../src/storage/embedded';
import { ObjectStore } from '../../src/storage/objects';
import { createS3Client } from '../../src/storage/s3';
import type { ResultRow } from '../../src/storage/rows';
import type { ColumnProxyName, SpaceName, TaskName } from '../../src/core/names';

/** A scratch directory removed by the returned function. */
export function tempDir(tag: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `zcbench-${tag}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A real s3rver on loopback (free port) with its data in a scratch directory. */
export async function startTestS3(tag: string): Promise<{ s3: EmbeddedS3; dir: string; stop: () => Promise<void> }> {
  const tmp = tempDir(tag);
  const s3 = await startEmbeddedS3({ dir: join(tmp.dir, 's3') });
  return {
    s3,
    dir: tmp.dir,
    stop: async () => {
      await s3.stop();
      tmp.remove();
    },
  };
}

export function storeOf(s3: Pick<EmbeddedS3, 'endpoint' | 'credentials' | 'bucket'>, retryDeadlineMs = 5_000): ObjectStore {
  return new ObjectStore(createS3Client({ endpoint: s3.endpoint, credentials: s3.credentials, retryDeadlineMs }), s3.bucket);
}

/** Environment for `runCli` against an embedded s3rver, with its own cache under zcHome. */
export function cliEnv(s3: EmbeddedS3, zcHome: string): NodeJS.ProcessEnv {
  return {
    S3_ENDPOINT: s3.endpoint,
    S3_BUCKET: s3.bucket,
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    ZC_HOME: zcHome,
    S3_RETRY_DEADLINE_MS: '5000',
  };
}

/** A computed row with defaults; tests override what they look at. */
export function row(
  p: { space?: SpaceName; task?: TaskName; arch: string; proxy: ColumnProxyName; score?: number | null; seed?: number } & Partial<ResultRow>,
): ResultRow {
  const space = p.space ?? 'nasbench201';
  const task = p.task ?? 'cifar10';
  const seed = p.seed ?? 0;
  const failed = p.status === 'failed';
  const r: ResultRow = {
    tripleId: p.tripleId ?? `${space}|${task}|${p.arch}|${p.proxy}|${seed}`,
    space,
    task,
    arch: p.arch,
    proxy: p.proxy,
    seed,
    batchSize: p.batchSize ?? 64,
    status: failed ? 'failed' : 'ok',
    score: failed ? null : (p.score ?? 1),
    time: failed ? null : (p.time ?? 0.25),
    backend: p.backend ?? 'cpu',
    dataSource: 'synthetic',
    dataSha256: 'ab'.repeat(32),
    fingerprint: 'test',
  };
  if (failed) r.reason = p.reason ?? 'OOM: tensor too large';
  if (p.archIdx !== undefined) r.archIdx = p.archIdx;
  return r;
}
