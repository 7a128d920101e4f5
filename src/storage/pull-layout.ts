/**
 * Where a pull puts a version's files, so the directory is a Hugging Face dataset as it stands:
 * every Parquet file under `data/` (its manifest path below it), the card and the NASLib json at
 * the root (NASLib's tools open `zc_<space>.json` by name). The card's configs (dataset-card.ts)
 * name these paths; openDataset reads them back through `zcbench-pull.json`.
 */
import type { FileEntry } from './manifest';

export const DATA_DIR = 'data';

/** The path in a pull of a manifest file: `data/<path>` for Parquet, `<path>` otherwise. */
export function pulledPath(path: string, f: Pick<FileEntry, 'format'>): string {
  return f.format === 'parquet' ? `${DATA_DIR}/${path}` : path;
}

/** The long table's parts of a (space, task) in a pull, as a glob (`*` within one segment). */
export const longGlob = (space: string, task: string): string => `${DATA_DIR}/parquet/${space}/${task}/*.parquet`;

/** Every part of the long table in a pull (one schema across spaces and tasks). */
export const LONG_GLOB = `${DATA_DIR}/parquet/*/*/*.parquet`;

/** Every ground-truth file in a pull (one per space). */
export const GROUND_TRUTH_GLOB = `${DATA_DIR}/ground_truth/*.parquet`;

/** The wide folder: written by pull itself, so no manifest file may land in it. */
export const WIDE_DIR = `${DATA_DIR}/wide`;

/** The wide table of a (space, task), computed at pull (wide.ts). */
export const widePath = (space: string, task: string): string => `${WIDE_DIR}/${space}/${task}.parquet`;
