import { createHash } from 'crypto';
import { promises as fsp } from 'fs';
import { basename } from 'path';
import { optString, parseArgs } from '../args';
import type { Command } from '../command';
import { parseSpace } from '../../core/names';
import { InputError, NotFoundError } from '../../errors';
import { tripleDataId, tripleId } from '../../queue/ids';
import { IMPORTED_FINGERPRINT, importedRows, parseNaslibJson } from '../../storage/naslib';
import { sha256Of } from '../../storage/objects';
import { publishVersion, type PublishInput } from '../../storage/publish';
import type { GroundTruthRow, ResultRow } from '../../storage/rows';
import { STORE_OPTION_SPECS, type StoreOptions } from '../../storage/store';
import { openDataset } from '../../storage/dataset';
import { checkDatasetName, readLatest } from '../../storage/versions';
import { withCommandStore } from '../store-env';

export const command: Command = {
  name: 'import-naslib',
  summary: 'publish released NASLib zc_<space>.json files as a dataset version',
  usage: 'zcbench import-naslib FILE... --dataset D [--space S] [--parent V|none] [--build-id ID] [--endpoint URL] [--bucket B] [--profile P]',
  options: [
    { name: 'dataset', value: true, description: 'dataset to publish into (required)' },
    { name: 'space', value: true, description: 'search space of every file (default: from the file name or content)' },
    { name: 'parent', value: true, description: 'version whose rows the new one carries (default: the latest; "none" for a fresh history)' },
    { name: 'build-id', value: true, description: 'id of this import (default: derived from the files, so re-running completes the same version)' },
    ...STORE_OPTION_SPECS.filter((o) => o.name !== 'anonymous'),
  ],
  async run(argv) {
    const args = parseArgs(argv, this.options);
    if (args.positionals.length === 0) throw new InputError('FILE', undefined, 'one or more NASLib zc_<space>.json files');
    const datasetOpt = optString(args, 'dataset');
    if (datasetOpt === undefined) throw new InputError('--dataset', undefined, 'required');
    const dataset = checkDatasetName(datasetOpt, '--dataset');
    const spaceOpt = optString(args, 'space');
    const space = spaceOpt === undefined ? undefined : parseSpace(spaceOpt, '--space');

    const rows: ResultRow[] = [];
    const groundTruth: GroundTruthRow[] = [];
    const expected: PublishInput['expected'] = [];
    const dataSources: { source: string; sha256: string }[] = [];
    const summaries: string[] = [];
    for (const file of args.positionals) {
      let bytes: Buffer;
      try {
        bytes = await fsp.readFile(file);
      } catch (err) {
        throw new NotFoundError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
      const sha256 = sha256Of(bytes);
      const parsed = parseNaslibJson(bytes.toString('utf8'), file, space);
      const imported = importedRows(parsed, { file, sha256 }, (k) => tripleId({ dataset, ...k, data: tripleDataId(k.proxy, IMPORTED_FINGERPRINT) }));
      rows.push(...imported.rows);
      groundTruth.push(...imported.groundTruth);
      expected.push(...imported.expected);
      dataSources.push({ source: basename(file), sha256 });
      summaries.push(`${file}: ${parsed.space} (from ${parsed.spaceFrom}), ${parsed.entries.length} entries, ${imported.rows.length} scores`);
    }

    const parentOpt = optString(args, 'parent');
    const outcome = await withCommandStore(args, async ({ store, storeOpts }) => {
      const latest = await readLatest(store, dataset);
      const parentVersion = parentOpt === 'none' ? undefined : (parentOpt ?? latest?.version);
      if (latest && (await unchangedSince(latest.version, parentVersion, rows, groundTruth, { ...storeOpts, dataset }))) {
        return { unchanged: latest.version };
      }
      const buildId =
        optString(args, 'build-id') ??
        `import-${createHash('sha256')
          .update(JSON.stringify([parentVersion ?? null, dataSources.map((d) => d.sha256), space ?? null]))
          .digest('hex')
          .slice(0, 16)}`;
      return publishVersion(store, {
        dataset,
        buildId,
        parentVersion,
        rows,
        groundTruth,
        expected,
        provenance: { fingerprint: IMPORTED_FINGERPRINT, spec: { import: args.positionals, space: space ?? null }, dataSources },
      });
    });
    if ('unchanged' in outcome) {
      process.stdout.write([...summaries, `${dataset}: unchanged: ${outcome.unchanged} already holds this content (nothing published)`].join('\n') + '\n');
      return 0;
    }
    process.stdout.write(
      [
        ...summaries,
        `${dataset}@${outcome.version} manifest sha256 ${outcome.manifestSha256}`,
        `${rows.length} rows, ${groundTruth.length} val_accuracy values; ${outcome.uploaded} objects uploaded, ${outcome.reused} reused`,
      ].join('\n') + '\n',
    );
    return 0;
  },
};

/**
 * Whether publishing would reproduce `latest`'s content: on top of it (the default parent), when it
 * already holds every imported row and value; on another parent or none, when it also holds
 * nothing else.
 */
async function unchangedSince(
  latest: string,
  parentVersion: string | undefined,
  rows: readonly ResultRow[],
  groundTruth: readonly GroundTruthRow[],
  opts: StoreOptions & { bucket: string; dataset: string },
): Promise<boolean> {
  const current = await openDataset(`s3://${opts.bucket}/${opts.dataset}`, latest, opts);
  if (!current.holds(rows, groundTruth)) return false;
  if (parentVersion === latest) return true;
  const ids = new Set(rows.map((r) => r.tripleId));
  const truth = new Set(groundTruth.map((g) => `${g.space}/${g.task}/${g.arch}`));
  return [...current.rows()].every((r) => ids.has(r.tripleId)) && [...current.groundTruth()].every((g) => truth.has(`${g.space}/${g.task}/${g.arch}`));
}
