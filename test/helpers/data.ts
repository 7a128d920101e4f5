/** CIFAR binary records as the dataset's authors describe them: label byte(s), then R, G, B planes of 32×32. */
export function cifarRecords(records: Array<{ labels: number[]; pixel: (y: number, x: number, c: number) => number }>): Buffer {
  const chunks: Buffer[] = [];
  for (const r of records) {
    const rec = Buffer.alloc(r.labels.length + 3072);
    r.labels.forEach((l, i) => (rec[i] = l));
    for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) rec[r.labels.length + c * 1024 + y * 32 + x] = r.pixel(y, x, c);
    chunks.push(rec);
  }
  return Buffer.concat(chunks);
}

/** Record r: R = 8·column, G = 8·row, B = 10·r (identifies the record), label r mod 10. */
export const gradientRecord = (r: number) => ({ labels: [r % 10], pixel: (y: number, x: number, c: number) => (c === 0 ? 8 * x : c === 1 ? 8 * y : 10 * r) });
