/**
 * The chaos run's fault schedule: which faults, when and for how long, drawn from one seeded
 * generator (src/core/rng.ts), so a seed names a schedule. Targets are drawn when a fault fires
 * (from the processes alive then), from a stream of the same seed.
 */
import { Rng } from '../../src/core/rng';

export const FAULT_KINDS = [
  'worker-sigkill',
  'worker-sigstop',
  'child-sigkill',
  'child-sigstop',
  'aggregator-sigkill',
  'aggregator-sigstop',
  'second-aggregator',
  'redis-restart',
  'redis-flushall-resume',
  's3-outage',
  'poison-unparsable',
  'poison-extra-field',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface PlannedFault {
  /** Seconds after the build's first `produce`. */
  at: number;
  kind: FaultKind;
  /** How long a process stays stopped, Redis down or S3 out, seconds. */
  durationS?: number;
}

/** Faults of the full run: 32. */
export const FULL_COUNTS: Record<FaultKind, number> = {
  'worker-sigkill': 5,
  'worker-sigstop': 4,
  'child-sigkill': 6,
  'child-sigstop': 4,
  'aggregator-sigkill': 3,
  'aggregator-sigstop': 3,
  'second-aggregator': 1,
  'redis-restart': 2,
  'redis-flushall-resume': 1,
  's3-outage': 1,
  'poison-unparsable': 1,
  'poison-extra-field': 1,
};

/** CHAOS_QUICK: every kind once, two child kills (one lands on the heavy pool more often). */
export const QUICK_COUNTS: Record<FaultKind, number> = { ...Object.fromEntries(FAULT_KINDS.map((k) => [k, 1])), 'child-sigkill': 2 } as Record<
  FaultKind,
  number
>;

/**
 * Durations, seconds: a worker stopped for less than its job lock (60 s) keeps its jobs; a child
 * stopped past the job deadline (`deadlineS`) is killed by its worker; an aggregator stopped past
 * its lock TTL (`lockTtlS`) finds its builds taken over.
 */
function durationOf(kind: FaultKind, rng: Rng, o: ScheduleOptions): number | undefined {
  const between = (lo: number, hi: number) => +(lo + (hi - lo) * rng.float()).toFixed(1);
  switch (kind) {
    case 'worker-sigstop':
      return between(3, 20);
    case 'child-sigstop':
      return between(5, o.deadlineS * 1.5);
    case 'aggregator-sigstop':
      return between(2, o.lockTtlS * 2.5);
    case 'redis-restart':
      return between(1, 5);
    case 's3-outage':
      return o.s3OutageS;
    default:
      return undefined;
  }
}

export interface ScheduleOptions {
  /** The span the faults are spread over, seconds (the run keeps going until the build is published). */
  windowS: number;
  s3OutageS: number;
  deadlineS: number;
  lockTtlS: number;
  counts: Record<FaultKind, number>;
}

/**
 * Fixed places for the faults that must not overlap: the second aggregator early (so that later
 * aggregator faults can hand over), the FLUSHALL and its resume before the S3 outage (the resume
 * reads the segments), Redis restarts away from the FLUSHALL; the rest uniform over the window.
 */
export function planSchedule(seed: number, o: ScheduleOptions): PlannedFault[] {
  const rng = new Rng(seed).fork('schedule');
  const w = o.windowS;
  const at = (lo: number, hi: number) => +(w * (lo + (hi - lo) * rng.float())).toFixed(1);
  const faults: PlannedFault[] = [];
  const flushAt = at(0.15, 0.25);
  for (const kind of FAULT_KINDS) {
    for (let i = 0; i < o.counts[kind]; i++) {
      let t: number;
      if (kind === 'second-aggregator') t = at(0.05, 0.12);
      else if (kind === 'redis-flushall-resume') t = flushAt;
      else if (kind === 's3-outage') t = at(0.5, 0.6);
      else if (kind === 'redis-restart') {
        do t = at(0.3, 0.95);
        while (Math.abs(t - flushAt) < 10);
      } else if (kind.startsWith('poison')) t = at(0.3, 0.9);
      else t = at(0.02, 1);
      faults.push({ at: t, kind, durationS: durationOf(kind, rng, o) });
    }
  }
  return faults.sort((a, b) => a.at - b.at);
}
