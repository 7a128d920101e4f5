/**
 * The dataset card of a version: `README.md` in Hugging Face's card layout (a YAML header with
 * one config per (space, task) and its data_files, licence, citation), then what each column
 * means, its unit and direction, how val_accuracy was obtained, the version's provenance and how
 * to load it. A pure function of the manifest: the same manifest always gives the same card.
 * Its paths are those of a pull (pull-layout.ts), where the card sits at the root.
 */
import { stringify } from 'yaml';
import type { FileEntry, Manifest } from './manifest';
import { GROUND_TRUTH_GLOB, LONG_GLOB, longGlob, widePath } from './pull-layout';

/** Where the card sits in a version and in a pull (Hugging Face reads it from the root). */
export const CARD_PATH = 'README.md';

/** Per proxy: its direction (all better-is-higher, as the paper ranks them) and unit. */
const PROXY_NOTES: Record<string, string> = {
  epe_nas: 'higher is better; not defined on the Taskonomy tasks (no class labels)',
  fisher: 'higher is better; sum of per-channel Fisher information',
  flops: 'higher is better (as the paper ranks it); millions of FLOPs of one forward pass',
  grad_norm: 'higher is better; L2 norm of the weight gradients',
  grasp: 'higher is better; GraSP score (gradient of the Hessian-gradient product)',
  jacov: 'higher is better; Jacobian covariance score',
  l2_norm: 'higher is better; L2 norm of the weights at initialisation',
  nwot: 'higher is better; log-determinant of the activation-pattern kernel',
  params: 'higher is better (as the paper ranks it); millions of parameters',
  plain: 'higher is better; sum of gradient × weight',
  snip: 'higher is better; SNIP saliency',
  synflow: 'higher is better; stored as the natural log of the synaptic-flow sum (the raw sum overflows doubles)',
  zen: 'higher is better; Zen-score (log of the output perturbation plus batch-norm log-scales)',
};

/** The paper and zcbench, as the card cites them. */
export const CITATION = `@inproceedings{krishnakumar2022nasbenchsuitezero,
  title     = {NAS-Bench-Suite-Zero: Accelerating Research on Zero Cost Proxies},
  author    = {Krishnakumar, Arjun and White, Colin and Zela, Arber and Tu, Renbo and Safari, Mahmoud and Hutter, Frank},
  booktitle = {Thirty-sixth Conference on Neural Information Processing Systems Datasets and Benchmarks Track},
  year      = {2022}
}
@software{zcbench,
  title = {zcbench: zero-cost NAS proxies at cluster scale, published as versioned datasets},
  note  = {Apache-2.0}
}`;

interface Partition {
  space: string;
  task: string;
}

/**
 * What a card describes beyond the manifest: a pull's files by manifest path (a filter may drop
 * some) and whether it has the wide tables.
 */
export interface CardOptions {
  files?: Record<string, FileEntry>;
  wide?: boolean;
}

function partitionsOf(files: Record<string, FileEntry>): Partition[] {
  const byKey = new Map<string, Partition>();
  for (const f of Object.values(files)) {
    if (f.kind === 'rows' && f.task) byKey.set(`${f.space}/${f.task}`, { space: f.space, task: f.task });
  }
  return [...byKey.values()].sort((a, b) => `${a.space}/${a.task}`.localeCompare(`${b.space}/${b.task}`));
}

/** Config names: HF allows letters, digits, "-" and "_". */
const configName = (space: string, task: string) => `${space}--${task}`.replace(/[^A-Za-z0-9_-]/g, '_');

interface Config {
  config_name: string;
  data_files: { split: string; path: string }[];
  default?: true;
}

/**
 * Hugging Face's manual configuration: one config per table, every Parquet of a pull in one of
 * them (each config's files share a schema, so the wide tables are one config each), exactly one
 * default so `load_dataset(dir)` needs no name: the long table, or the ground truth without it.
 */
function configsOf(partitions: readonly Partition[], wide: boolean, groundTruth: boolean): Config[] {
  const train = (path: string) => [{ split: 'train', path }];
  const configs: Config[] = [];
  if (partitions.length > 0) configs.push({ config_name: 'long', data_files: train(LONG_GLOB), default: true });
  for (const p of partitions) {
    configs.push({ config_name: configName(p.space, p.task), data_files: train(longGlob(p.space, p.task)) });
    if (wide) configs.push({ config_name: `wide--${configName(p.space, p.task)}`, data_files: train(widePath(p.space, p.task)) });
  }
  if (groundTruth)
    configs.push({ config_name: 'ground_truth', data_files: train(GROUND_TRUTH_GLOB), ...(configs.length === 0 ? { default: true as const } : {}) });
  return configs;
}

function yamlHeader(m: Manifest, configs: readonly Config[]): string {
  const header = {
    license: 'apache-2.0',
    pretty_name: `${m.dataset}@${m.version}: zero-cost NAS proxy scores`,
    tags: ['neural-architecture-search', 'zero-cost-proxies', 'nas-bench-suite-zero', 'zcbench'],
    size_categories: [
      m.rowCount < 1000 ? 'n<1K' : m.rowCount < 10_000 ? '1K<n<10K' : m.rowCount < 100_000 ? '10K<n<100K' : m.rowCount < 1_000_000 ? '100K<n<1M' : '1M<n<10M',
    ],
    configs,
  };
  return `---\n${stringify(header)}---\n`;
}

function list(values: readonly (string | number)[]): string {
  return values.length === 0 ? 'none recorded' : values.map((v) => `\`${v}\``).join(', ');
}

function provenance(m: Manifest): string[] {
  const lines = [
    `- Dataset \`${m.dataset}\`, version \`${m.version}\` (parent: ${m.parentVersion ? `\`${m.parentVersion}\`, manifest sha256 \`${m.parentManifestSha256}\`` : 'none'}), built by \`${m.buildId}\` at ${m.createdAt}.`,
    `- Code fingerprint of the build: \`${m.fingerprint ?? m.codeVersion ?? 'unknown'}\`; fingerprints of the rows: ${list(m.rowFingerprints ?? m.rowCodeVersions ?? [])}.`,
    `- Backends: ${list(m.backends)}. Batch sizes: ${list(m.batchSizes)}. Seeds: ${list(m.seeds)}.`,
    `- Rows: ${m.rowCount}${m.reuse ? `; rows reused from the parent: ${m.reuse}` : ''}.`,
    '- Data (minibatch sources or imported files, with the sha256 of their bytes):',
    ...(m.dataSources.length === 0 ? ['  - none recorded'] : m.dataSources.map((s) => `  - \`${s.source}\` sha256 \`${s.sha256}\``)),
    ...(m.modules?.length
      ? [
          '- User proxy modules (columns of their names; the bundle is `plugins/<sha256>.js` in the bucket):',
          ...m.modules.map((x) => `  - \`${x.name}\` from \`${x.file}\`, sha256 \`${x.sha256}\``),
        ]
      : []),
    '',
    '<!-- zcbench:seeds -->',
    '### Seeds and variance',
    '',
    'Each row of the long table holds one seed\u2019s score (column `seed`). Where an architecture was computed under several seeds,',
    'the NASLib json\u2019s `score` is the mean over them, beside `std` (sample standard deviation, n \u2212 1), `n`, `seeds` and `scores`',
    '(fields NASLib\u2019s loader ignores), and the wide table holds the mean with `<proxy>_std` and `<proxy>_n` columns.',
    '`zcbench report` writes each proxy\u2019s seed-to-seed rank stability (`seed_stability.csv`).',
    '<!-- /zcbench:seeds -->',
  ];
  return lines;
}

function coverageTable(m: Manifest): string[] {
  if (m.coverage.length === 0) return ['No coverage recorded.'];
  return [
    '| space | task | proxy | expected | ok | failed |',
    '|---|---|---|---|---|---|',
    ...m.coverage.map((c) => `| ${c.space} | ${c.task} | ${c.proxy} | ${c.expected} | ${c.ok} | ${c.failed} |`),
  ];
}

/** The card's markdown (YAML header first). */
export function datasetCard(m: Manifest, opts: CardOptions = {}): string {
  const files = opts.files ?? m.files;
  const partitions = partitionsOf(files);
  const wide = opts.wide ?? false;
  const configs = configsOf(
    partitions,
    wide,
    Object.values(files).some((f) => f.kind === 'ground_truth'),
  );
  const first = partitions[0];
  const example = first ? longGlob(first.space, first.task) : LONG_GLOB;
  const folder = `${m.dataset}-${m.version}`;
  const other = first ? (wide ? `wide--${configName(first.space, first.task)}` : configName(first.space, first.task)) : 'ground_truth';
  const spaces = [
    ...new Set(
      Object.values(files)
        .filter((f) => f.kind === 'naslib')
        .map((f) => f.space),
    ),
  ].sort();
  const naslibFile = spaces.length > 0 ? `zc_${spaces[0]}.json` : 'zc_<space>.json';
  const body = [
    `# ${m.dataset}@${m.version}`,
    '',
    'Zero-cost proxy scores of neural architectures, computed by zcbench as in NAS-Bench-Suite-Zero (Krishnakumar et al.,',
    'NeurIPS 2022 Datasets and Benchmarks Track), with the architectures\u2019 validation accuracy where known.',
    '',
    '## Files',
    '',
    `Paths are those of the version as \`zcbench pull ${m.dataset}@${m.version}\` writes it (\`${folder}/\`, this card at its root):`,
    'every Parquet file is under `data/`, and the configs in the YAML header above name them, so the folder is a Hugging Face',
    'dataset as it stands.',
    '',
    '- `data/parquet/<space>/<task>/*.parquet`: the long table, one row per (architecture, proxy, seed, batch size).',
    '- `data/wide/<space>/<task>.parquet` (computed by `zcbench pull`): one row per architecture, a column per proxy.',
    '- `data/ground_truth/<space>.parquet`: val_accuracy per (space, task, architecture) and where it came from (`origin`).',
    '- `zc_<space>.json` (at the root): NASLib\u2019s zero-cost benchmark layout (`zc_nasbench201.json` etc.).',
    '- `manifest.json` and `zcbench-pull.json` (in a pull): the version\u2019s manifest, every file with its sha256, and what the pull wrote.',
    '',
    'Configs: `long` (the default) is every part of the long table; `<space>--<task>` one (space, task) of it;',
    '`wide--<space>--<task>` its wide table (in a pull); `ground_truth` the val_accuracy files. Each has one split, `train`.',
    '',
    '## Columns of the long table',
    '',
    '| column | type | meaning |',
    '|---|---|---|',
    '| `tripleId` | string | id of the (architecture, proxy, settings) triple |',
    '| `space`, `task` | string | search space (NASLib name) and task |',
    '| `arch` | string | the architecture\u2019s key: NASLib\u2019s tuple spelling |',
    '| `arch_readable` | string | the space\u2019s readable form: NB201 API string, NB301 genotype, NB101 matrix + ops, TNB op names |',
    '| `proxy` | string | proxy name (see below), or a user proxy module\u2019s name |',
    '| `module` | string | a user proxy module\u2019s column: the sha256 of its bundle; null for built-in proxies |',
    '| `seed` | int64 | seed of the weight initialisation and minibatch |',
    '| `batchSize` | int32 | minibatch size (the paper: 64, 32 on Taskonomy) |',
    '| `status` | string | `ok`, or `failed` (then `score` is null and `reason` says why) |',
    '| `score` | double | the proxy\u2019s value, unitless unless noted below |',
    '| `time` | double | seconds spent computing the score |',
    '| `reason` | string | why a triple failed |',
    '| `backend` | string | TensorFlow.js backend that computed it (`wasm:N`: the minibatch of its backward passes split between N wasm heaps) |',
    '| `dataSource`, `dataSha256` | string | the minibatch source and the sha256 of its bytes |',
    '| `fingerprint` | string | code fingerprint of the compute core that produced the row |',
    '| `archIdx` | string | NASLib\u2019s index of the architecture, when known |',
    '| `val_accuracy` | double | ground truth (see below); null when unknown |',
    '',
    '## Proxies: direction and units',
    '',
    'Every proxy is ranked better-is-higher (a higher score predicts a better architecture), as in the paper.',
    '',
    '| proxy | note |',
    '|---|---|',
    ...Object.entries(PROXY_NOTES).map(([p, note]) => `| \`${p}\` | ${note} |`),
    '',
    '**The −1e8 sentinel.** Where a proxy\u2019s value is NaN or ±infinity (an overflowing product, a singular kernel, a',
    'diverging gradient), NASLib\u2019s post-processing writes `-100000000` (−1e8) and so does zcbench (`core/proxies/proxy.ts`;',
    'for synflow the log of it, −18.42). It is a valid `ok` score that ranks lowest; drop it (`score > -1e7`) before a',
    'Pearson correlation, where one sentinel can decide the value alone.',
    '',
    '## val_accuracy',
    '',
    'Not computed by zcbench: the trained architectures\u2019 results from the tabular benchmarks as NASLib releases them,',
    'joined from `data/ground_truth/<space>.parquet` (`origin` names the file). What it is per space and task (zcbench\u2019s docs/tasks.md):',
    '',
    '| space / task | val_accuracy |',
    '|---|---|',
    '| nasbench101 | validation accuracy \u00d7 100 after 108 epochs (percent, higher is better) |',
    '| nasbench201 | final-epoch (200) validation accuracy in percent; cifar10 from the cifar10-valid split |',
    '| nasbench301 | the NB-301 v1.0 surrogate\u2019s predicted validation accuracy (percent) |',
    '| transbench101 class_object, class_scene, jigsaw | valid_top1 (percent, higher is better) |',
    '| transbench101 room_layout | **a loss, not an accuracy**: NASLib\u2019s `valid_neg_loss` (NASLib issue #188); check its sign before ranking |',
    '| transbench101 segmentsemantic | pixel accuracy (`valid_acc`) |',
    '| transbench101 autoencoder, normal | SSIM (`valid_ssim`, higher is better) |',
    '| other tasks (ninapro, svhn, scifar100) | NASLib\u2019s own training runs |',
    '',
    'Builds on synthetic data have no val_accuracy (null).',
    '',
    '## Provenance',
    '',
    ...provenance(m),
    '',
    '### Coverage',
    '',
    ...coverageTable(m),
    '',
    '## Loading',
    '',
    `Paths relative to the pulled folder \`${folder}/\`.`,
    '',
    'pandas:',
    '',
    '```python',
    'import pandas as pd',
    `df = pd.read_parquet("${first ? `data/parquet/${first.space}/${first.task}` : 'data/parquet'}")`,
    'wide = pd.read_parquet("' + (first ? widePath(first.space, first.task) : widePath('<space>', '<task>')) + '")  # one row per architecture',
    '```',
    '',
    'DuckDB:',
    '',
    '```sql',
    `SELECT proxy, count(*), avg(score) FROM read_parquet('${LONG_GLOB}') WHERE status = 'ok' GROUP BY proxy;`,
    '```',
    '',
    'Hugging Face `datasets`: the folder itself (this card\u2019s configs), or its files:',
    '',
    '```python',
    'from datasets import load_dataset',
    `ds = load_dataset("path/to/${folder}")  # the default config, "long": ds["train"]`,
    `ds = load_dataset("path/to/${folder}", "${other}")`,
    `ds = load_dataset("parquet", data_files="${example}")`,
    '```',
    '',
    'On the Hugging Face Hub: upload the folder unchanged, and it loads by the repository\u2019s name:',
    '',
    '```sh',
    `huggingface-cli upload ORG/NAME path/to/${folder} . --repo-type dataset`,
    '```',
    '',
    '```python',
    'ds = load_dataset("ORG/NAME", revision="main")',
    '```',
    '',
    'NASLib:',
    '',
    '```python',
    'import json',
    `zc = json.load(open("${naslibFile}"))  # zc[task][arch][proxy] = {"score": ..., "time": ...}`,
    '```',
    '',
    '## Citation',
    '',
    '```bibtex',
    CITATION,
    '```',
    '',
  ];
  return yamlHeader(m, configs) + '\n' + body.join('\n');
}
