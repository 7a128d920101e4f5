import { writeFile } from 'fs/promises';
import { join } from 'path';
import { optInt, optString, parseArgs } from '../args';
import type { Command } from '../command';
import { InputError } from '../../errors';
import { comparisonCsv, comparisonMarkdown, comparisonMatrix, comparisonText, compareSources, differencesCsv } from '../../report/compare';
import { renderHeatmapPng, renderHeatmapSvg } from '../../report/heatmap';
import { prepareOutputDir } from '../../storage/output-dir';
import { STORE_OPTION_SPECS } from '../../storage/store';
import { openDatasetSource } from '../store-env';

const FORMATS = ['table', 'csv', 'markdown'] as const;

export const command: Command = {
  name: 'compare',
  summary: 'rank agreement of two score tables per (space, task, proxy), e.g. a regeneration against the released one',
  usage: 'zcbench compare A B [--format table|csv|markdown] [--out DIR] [--top N] [--endpoint URL] [--bucket B] [--profile P] [--anonymous]',
  options: [
    { name: 'format', value: true, description: 'what is printed: table (default), csv or markdown' },
    { name: 'out', value: true, description: 'also write compare.csv, differences.csv, compare.md, compare.png, compare.svg here' },
    { name: 'top', value: true, description: 'largest rank differences kept per (space, task, proxy) in differences.csv (default 5)' },
    ...STORE_OPTION_SPECS,
  ],
  async run(argv) {
    const args = parseArgs(argv, this.options);
    if (args.positionals.length !== 2) {
      throw new InputError(
        'argument',
        args.positionals.join(' ') || undefined,
        'exactly two sources A B, each D[@VERSION], s3://BUCKET/D[@VERSION], a pulled directory or a zc_<space>.json',
      );
    }
    const format = optString(args, 'format') ?? 'table';
    if (!(FORMATS as readonly string[]).includes(format)) throw new InputError('--format', format, `one of ${FORMATS.join(', ')}`);
    const top = optInt(args, 'top', 1) ?? 5;
    const [a, b] = [await openDatasetSource(args.positionals[0]!, args), await openDatasetSource(args.positionals[1]!, args)];
    const label = (d: typeof a) => `${d.dataset}@${d.version ?? 'local'}`;
    const comparison = compareSources(a, b, { a: label(a), b: label(b) }, top);
    if (comparison.rows.length === 0) {
      throw new InputError('argument', args.positionals.join(' '), 'two sources sharing a (space, task, proxy); these share none');
    }
    const out = optString(args, 'out');
    if (out !== undefined) {
      await prepareOutputDir(out, '--out');
      const matrix = comparisonMatrix(comparison);
      const files: [string, string | Buffer][] = [
        ['compare.csv', comparisonCsv(comparison)],
        ['differences.csv', differencesCsv(comparison)],
        ['compare.md', comparisonMarkdown(comparison)],
        ['compare.png', renderHeatmapPng(matrix)],
        ['compare.svg', renderHeatmapSvg(matrix)],
      ];
      for (const [name, content] of files) await writeFile(join(out, name), content);
    }
    const printed = format === 'csv' ? comparisonCsv(comparison) : format === 'markdown' ? comparisonMarkdown(comparison) : comparisonText(comparison);
    process.stdout.write(printed);
    return 0;
  },
};
