import { Rng } from '../src/core/rng';
import { averageRanks, finiteMean, pearson, spearman } from '../src/report/stats';
import { referencePandasPearson, referencePearson, referenceRanks, referenceSpearman } from './helpers/report-reference';

describe('averageRanks', () => {
  it('gives tied values the mean of the ranks they span', () => {
    expect(Array.from(averageRanks([10, 20, 20, 5, 20, -1e8]))).toEqual([3, 5, 5, 2, 5, 1]);
  });

  it('matches the counting reference on random data with many ties', () => {
    const rng = new Rng('report-ranks');
    const x = Array.from({ length: 500 }, () => rng.int(40) - 20);
    expect(Array.from(averageRanks(x))).toEqual(referenceRanks(x));
  });
});

describe('spearman', () => {
  it('equals the reference (Pearson of average ranks) with ties, sentinels, -inf and missing values to 1e-9', () => {
    const rng = new Rng('report-spearman');
    for (let trial = 0; trial < 20; trial++) {
      const n = 50 + rng.int(400);
      const acc: (number | null)[] = [];
      const score: (number | null)[] = [];
      for (let i = 0; i < n; i++) {
        const a = 60 + 30 * rng.float();
        const u = rng.float();
        acc.push(u < 0.02 ? null : Math.round(a * 10) / 10); // rounded accuracies: ties
        // Proxy scores: a noisy monotone function, rounded (ties), with −1e8 sentinels and gaps.
        score.push(u > 0.985 ? -Infinity : u > 0.97 ? -1e8 : u > 0.94 ? null : Math.round(a + 15 * rng.normal()));
      }
      const got = spearman(
        acc.map((v) => v ?? NaN),
        score.map((v) => v ?? NaN),
      );
      const want = referenceSpearman(acc, score);
      expect(got.n).toBe(want.n);
      expect(Math.abs(got.value - want.value)).toBeLessThan(1e-9);
    }
  });

  it('keeps −1e8 sentinels as the lowest values (they change the result)', () => {
    const acc = [1, 2, 3, 4, 5];
    const withSentinel = spearman(acc, [10, 20, 30, 40, -1e8]);
    const withoutPair = spearman(acc, [10, 20, 30, 40, NaN]);
    expect(withSentinel.n).toBe(5);
    expect(withSentinel.value).toBeCloseTo(0, 12); // ranks 2,3,4,5,1 vs 1..5
    expect(withoutPair.n).toBe(4);
    expect(withoutPair.value).toBeCloseTo(1, 12);
  });

  it('is NaN for a constant sample or fewer than two pairs', () => {
    expect(spearman([1, 2, 3], [7, 7, 7]).value).toBeNaN();
    expect(spearman([1, NaN, 3], [NaN, 2, 4])).toEqual({ value: NaN, n: 1 });
  });
});

describe('pearson', () => {
  it('matches the reference on random data with sentinels, infinities and gaps to 1e-9', () => {
    const rng = new Rng('report-pearson-special');
    const x = Array.from({ length: 400 }, () => rng.normal());
    const y = x.map((v) => {
      const u = rng.float();
      return u < 0.03 ? -Infinity : u < 0.06 ? -1e8 : u < 0.1 ? NaN : v + rng.normal();
    });
    const got = pearson(x, y);
    const want = referencePandasPearson(x, y);
    expect(got.n).toBe(want.n);
    expect(Math.abs(got.value - want.value)).toBeLessThan(1e-9);
  });

  it('matches the textbook formula on values mixing −1e8 sentinels and O(1) scores', () => {
    const rng = new Rng('report-pearson');
    const x = Array.from({ length: 300 }, () => (rng.float() < 0.05 ? -1e8 : rng.normal()));
    const y = x.map((v) => (v === -1e8 ? rng.normal() : 2 * v + rng.normal()));
    const got = pearson(x, y);
    expect(got.n).toBe(300);
    expect(Math.abs(got.value - referencePearson(x, y))).toBeLessThan(1e-9);
  });

  it("drops pairs with a non-finite side, as pandas' corr", () => {
    expect(pearson([1, 2, NaN, 4, 5], [2, 4, 6, -Infinity, 10])).toEqual({ value: 1, n: 3 });
  });
});

describe('special values', () => {
  it('Spearman keeps ±inf as the extreme ranks (NASLib maps them to ±1e9) and drops NaN', () => {
    const x = [1, 2, 3, 4, 5];
    expect(spearman(x, [2, 4, 6, -Infinity, NaN])).toEqual(spearman([1, 2, 3, 4], [2, 4, 6, -1e9]));
    expect(spearman(x, [2, 4, 6, -Infinity, NaN]).value).toBeCloseTo(-0.2, 12); // ranks 2,3,4,1
  });
});

describe('finiteMean', () => {
  it('ignores undefined values', () => {
    expect(finiteMean([1, NaN, 3])).toBe(2);
    expect(finiteMean([NaN])).toBeNaN();
  });
});
