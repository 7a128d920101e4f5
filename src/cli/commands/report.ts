import { optString, parseArgs } from '../args';
import type { Command } from '../command';
import { InputError } from '../../errors';
import { writeFile } from 'fs/promises';
import { join } from 'path';
import { createReport, noGroundTruthMarkdown, seedStabilityCsv, seedStabilityMarkdown, writeReport } from '../../report/report';
import { seedStability } from '../../report/seed-stability';
import { ScoreTableBuilder } from '../../report/table';
import type { ReportProvenance } from '../../report/html';
import { prepareOutputDir } from '../../storage/output-dir';
import { STORE_OPTION_SPECS } from '../../storage/store';
import { openDatasetSource } from '../store-env';

export const command: Command = {
  name: 'report',
  summary: "the paper's analyses of a version with ground truth: Spearman heatmap, task correlation, bias table",
  usage: 'zcbench report D[@VERSION] [--out DIR] [--endpoint URL] [--bucket B] [--profile P] [--anonymous]',
  options: [{ name: 'out', value: true, description: 'output directory (default ./<dataset>-<version>-report)' }, ...STORE_OPTION_SPECS],
  async run(argv) {
    const args = parseArgs(argv, this.options);
    if (args.positionals.length !== 1) {
      throw new InputError(
        'argument',
        args.positionals.join(' ') || undefined,
        'exactly one D[@VERSION] (or s3://BUCKET/D[@VERSION], a pulled directory, a zc_<space>.json)',
      );
    }
    const dataset = await openDatasetSource(args.positionals[0]!, args);
    const source = { dataset: dataset.dataset, version: dataset.version ?? 'local' };

    const builder = new ScoreTableBuilder();
    for (const row of dataset.groundTruth()) builder.addGroundTruth(row);
    const seen = { fingerprint: new Set<string>(), backend: new Set<string>(), batchSize: new Set<string>(), seed: new Set<string>(), data: new Set<string>() };
    for (const row of dataset.rows()) {
      builder.addResult(row);
      seen.fingerprint.add(row.fingerprint);
      seen.backend.add(row.backend);
      seen.batchSize.add(String(row.batchSize));
      seen.seed.add(String(row.seed));
      seen.data.add(`${row.dataSource} sha256 ${row.dataSha256}`);
    }
    const sorted = (s: Set<string>) => [...s].sort((x, y) => x.localeCompare(y, 'en', { numeric: true }));
    const provenance: ReportProvenance = [
      ['version', [`${source.dataset}@${source.version}`, ...(dataset.manifestSha256 ? [`manifest sha256 ${dataset.manifestSha256}`] : [])]],
      ['code fingerprints', sorted(seen.fingerprint)],
      ['backends', sorted(seen.backend)],
      ['batch sizes', sorted(seen.batchSize)],
      ['seeds', sorted(seen.seed)],
      ['data', sorted(seen.data)],
    ];
    const { tasks, counts } = builder.build();
    const outDir = optString(args, 'out') ?? `${source.dataset}-${source.version}-report`;
    await prepareOutputDir(outDir, '--out');
    // Seed-to-seed stability needs no ground truth: a multi-seed synthetic build has it too.
    const stability = seedStability(dataset);
    if (tasks.length === 0) {
      const markdown = noGroundTruthMarkdown(source, counts);
      await writeFile(join(outDir, 'report.md'), stability.length > 0 ? `${markdown}\n${seedStabilityMarkdown(stability)}` : markdown);
      if (stability.length > 0) await writeFile(join(outDir, 'seed_stability.csv'), seedStabilityCsv(stability));
      const n = stability.length > 0 ? 2 : 1;
      process.stdout.write(
        `${source.dataset}@${source.version}: no ground truth (val_accuracy), so nothing to correlate; ${counts.resultRows} proxy rows\n` +
          `${n} file${n > 1 ? 's' : ''} written to ${outDir} (report.md says why${n > 1 ? '; seed_stability.csv' : ''})\n`,
      );
      return 0;
    }
    const report = createReport(tasks, counts, source);
    const files = await writeReport(report, outDir, provenance, stability);

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
