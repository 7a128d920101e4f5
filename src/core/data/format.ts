import type { Stats } from 'fs';
import type { TaskSpec } from '../tasks';
import type { SampleSet } from './sample-set';

/** A data path as the formats see it: what is there, and a directory's entries. */
export interface DataSource {
  path: string;
  /** null: nothing at `path` (a format may still read it, e.g. an "A.npy,B.npy" pair). */
  stat: Stats | null;
  /** A directory's entry names; null for a file or nothing. */
  names: Set<string> | null;
}

/**
 * One released file format of a task's training set (formats/<name>.ts, listed in formats/index.ts).
 * `open` returns null when the source is not in this format, so the registry tries the next one.
 */
export interface DataFormat {
  name: string;
  /** What this format's files look like for the task, for errors; null when it serves no such task. */
  expects(spec: TaskSpec): string | null;
  open(source: DataSource, spec: TaskSpec): Promise<SampleSet | null>;
}
