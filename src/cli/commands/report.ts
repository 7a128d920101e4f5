import { optString, parseArgs } from '../args';
import type { Command } from '../command';
import { loadConfig } from '../../config';
import { InputError } from '../../errors';
import { createReport, writeReport } from '../../report/report';
import { ScoreTableBuilder } from '../../report/table';
import { openDataset } from '../../storage/dataset';
import { STORE_OPTION_SPECS, storeOptionsFromArgs } from '../../storage/store';
import { parseDatasetRef } from '../../storage/versions';

/** A local NASLib json file or pulled directory rather than a dataset name (names have no '/'). */
function isLocation(arg: string): boolean {
  return arg.startsWith('s3://') || arg.includes('/') || arg.endsWith('.json');
}

export const command: Command = {
  name: 'report',
  summary: "the paper's analyses of a version with ground truth: Spearman heatmap, task correlation, bias table",
  usage: 'zcbench report D[@VERSION] [--out DIR] [--endpoint URL] [--bucket B] [--profile P] [--anonymous]',
  options: [
    { name: 'out', value: true, description: 'output directory (default ./<dataset>-<version>-report)' },
    ...STORE_OPTION_SPECS,
  ],
  async run(argv) {
    const args = parseArgs(argv, this.options);
    if (args.positionals.length !== 1) {
      throw new InputError('argument', args.positionals.join(' ') || undefined, 'exactly one D[@VERSION] (or s3://BUCKET/D[@VERSION], a pulled directory, a zc_<space>.json)');
    }
    const arg = args.positionals[0]!;
    const storeOptions = storeOptionsFromArgs(args.options);
    let dataset;
    if (isLocation(arg)) {
      dataset = await openDataset(arg, undefined, storeOptions);
    } else {
      const ref = parseDatasetRef(arg);
      const bucket = storeOptions.bucket ?? loadConfig().S3_BUCKET;
      dataset = await openDataset(`s3://${bucket}/${ref.dataset}`, ref.version, storeOptions);
    }
    const source = { dataset: dataset.dataset, version: dataset.version ?? 'local' };

    const builder = new ScoreTableBuilder();
    for (const row of dataset.groundTruth()) builder.addGroundTruth(row);
    for (const row of dataset.rows()) builder.addResult(row);
    const { tasks, counts } = builder.build();
    const report = createReport(tasks, counts, source);
    const outDir = optString(args, 'out') ?? `${source.dataset}-${source.version}-report`;
    const files = await writeReport(report, outDir);

    const lines = [`${source.dataset}@${source.version}: ${tasks.length} tasks with ground truth`];
    for (const b of report.analyses.best) {
      const value = b.proxy === undefined ? 'n/a' : `${b.proxy} (Spearman ${b.spearman.value.toFixed(3)}, n=${b.spearman.n})`;
      lines.push(`  ${b.task.space}/${b.task.task}: best proxy ${value}`);
    }
    lines.push(`${files.length} files written to ${outDir}`);
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  },
};
