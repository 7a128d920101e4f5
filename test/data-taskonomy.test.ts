import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { loadMinibatch } from '../src/core/data';
import { decodeMinibatch, encodeMinibatch } from '../src/core/data/minibatch-object';
import { CLASS_OBJECT_SELECTED, CLASS_SCENE_SELECTED, JIGSAW_PERMUTATIONS } from '../src/core/data/naslib-tables';
import { decodeNpyValues, parseNpyHeader, type NpyHeader } from '../src/core/data/npy';
import * as pil from '../src/core/data/pil';
import { roomLayoutTarget } from '../src/core/data/room-layout';
import { planTaskonomy } from '../src/core/data/taskonomy';
import { FormatError, InputError } from '../src/errors';
import { TASKONOMY_TASKS, type TaskName } from '../src/core/names';
import { Rng } from '../src/core/rng';
import { TASK_SPECS } from '../src/core/tasks';
import type { Minibatch } from '../src/core/types';

import { TASKONOMY_FIXTURES as FIXTURES, VIEWS, npyF4, png, roomCases, viewName, writeTaskonomy } from './helpers/taskonomy';
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function readNpy(file: string): Float64Array {
  const buf = readFileSync(file);
  const h = parseNpyHeader(file, buf) as NpyHeader;
  const n = h.shape.reduce((a, b) => a * b, 1);
  const out = new Float64Array(n);
  decodeNpyValues(buf.subarray(h.dataOffset), h.dtype, n, out);
  return out;
}

let dir: string;
let root: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'zc-data-taskonomy-'));
  root = join(dir, 'taskonomydata_mini');
  writeTaskonomy(root);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const load = (path: string, task: TaskName, batchSize: number, seed = 1) =>
  loadMinibatch({ source: 'path', path }, { task, batchSize, rng: new Rng(seed).fork('data') });

describe('NASLib tables and ported operations', () => {
  test("the transcribed tables equal NASLib's .npy files", () => {
    const object = readNpy(join(FIXTURES, 'class_object_selected.npy'));
    const scene = readNpy(join(FIXTURES, 'class_scene_selected.npy'));
    const perms = readNpy(join(FIXTURES, 'permutations_hamming_max_1000.npy'));
    expect(CLASS_OBJECT_SELECTED).toEqual([...object.keys()].filter((i) => object[i] === 1));
    expect(CLASS_SCENE_SELECTED).toEqual([...scene.keys()].filter((i) => scene[i] === 1));
    expect(CLASS_OBJECT_SELECTED).toHaveLength(TASK_SPECS.class_object.outputs);
    expect(CLASS_SCENE_SELECTED).toHaveLength(TASK_SPECS.class_scene.outputs);
    expect(JIGSAW_PERMUTATIONS.flat()).toEqual(Array.from(perms));
  });

  test('image operations reproduce Pillow byte for byte', () => {
    const golden = JSON.parse(readFileSync(join(FIXTURES, 'pil_golden.json'), 'utf8'));
    const input: pil.Image8 = { width: golden.width, height: golden.height, channels: 3, data: new Uint8Array(Buffer.from(golden.input, 'base64')) };
    for (const g of golden.ops as Array<{ op: string; args: number[]; width: number; height: number; channels: number; output: string }>) {
      const fn = (pil as unknown as Record<string, (img: pil.Image8, ...a: number[]) => pil.Image8>)[g.op]!;
      const out = fn(input, ...g.args);
      expect([g.op, g.args, out.width, out.height, out.channels]).toEqual([g.op, g.args, g.width, g.height, g.channels]);
      expect([g.op, g.args, Buffer.from(out.data).equals(Buffer.from(g.output, 'base64'))]).toEqual([g.op, g.args, true]);
    }
  });

  test("room_layout targets equal NASLib's point_info2room_layout", () => {
    for (const c of roomCases) {
      const got = roomLayoutTarget('view.json', c.point_info);
      got.forEach((v, i) => expect(Math.abs(v - c.expected[i]!)).toBeLessThan(1e-12));
    }
    expect(() => roomLayoutTarget('v.json', { camera_location: [0, 0], camera_rotation_final: [0, 0, 0] })).toThrow(
      'v.json: point_info field camera_location is [0,0], expected 3 finite numbers',
    );
  });
});

describe('Taskonomy minibatches', () => {
  const tasks = [...TASKONOMY_TASKS];

  test.each(tasks)('%s: shapes, targets from the view files, first 70 %% of the views, sha256 of the files read', async (task) => {
    const B = 2;
    const batch = await load(root, task, B, 5);
    const plan = planTaskonomy(task, VIEWS, B, new Rng(5).fork('data'));
    expect(plan.indices.every((i) => i < 7)).toBe(true);
    const spec = TASK_SPECS[task];
    expect(batch.source).toBe(root);
    expect(batch.inputShape).toEqual(task === 'jigsaw' ? [B, 9, 64, 64, 3] : [B, 256, 256, 3]);
    expect(batch.inputs.length).toBe(batch.inputShape.reduce((a, b) => a * b, 1));
    const b = join(root, 'bldA');
    const file = (i: number, d: string, ext: string) => join(b, d, `${viewName(i)}_domain_${d}.${ext}`);
    const t = batch.target;
    const read = [join(root, 'train_filenames_final5k.json'), join(b, 'image_list_final5k.json')];
    for (const i of plan.indices) read.push(file(i, 'rgb', 'png'));
    switch (task) {
      case 'class_object':
      case 'class_scene': {
        const sel = task === 'class_object' ? CLASS_OBJECT_SELECTED : CLASS_SCENE_SELECTED;
        expect(t.kind === 'soft' && t.classes).toBe(spec.outputs);
        plan.indices.forEach((i, n) => {
          const v = readNpy(file(i, task, 'npy'));
          const kept = sel.map((k) => v[k]!);
          const sum = kept.reduce((a, c) => a + c, 0);
          const row = t.kind === 'soft' ? Array.from(t.probs.subarray(n * spec.outputs, (n + 1) * spec.outputs)) : [];
          expect(row).toEqual(kept.map((x) => Math.fround(x / sum)));
          read.push(file(i, task, 'npy'));
        });
        break;
      }
      case 'room_layout':
        expect(t).toMatchObject({ kind: 'dense', shape: [B, 9] });
        plan.indices.forEach((i, n) => {
          const want = roomCases[i % roomCases.length]!.expected.map(Math.fround);
          expect(t.kind === 'dense' && Array.from(t.values.subarray(9 * n, 9 * n + 9))).toEqual(want);
          read.push(file(i, 'point_info', 'json'));
        });
        expect(plan.draws.every((d) => !d.flip && d.jitter)).toBe(true); // jitter only
        break;
      case 'segmentsemantic': {
        expect(t).toMatchObject({ kind: 'pixel_class', shape: [B, 256, 256] });
        const labels = t.kind === 'pixel_class' ? t.labels : new Int32Array();
        expect(labels.reduce((a, v) => Math.min(a, v), 99)).toBe(0);
        expect(labels.reduce((a, v) => Math.max(a, v), -1)).toBe(16);
        for (const i of plan.indices) read.push(file(i, 'segmentsemantic', 'png'));
        break;
      }
      case 'autoencoder':
        expect(t.kind === 'dense' && Buffer.from(t.values.buffer).equals(Buffer.from(batch.inputs.buffer))).toBe(true);
        break;
      case 'normal': {
        expect(t).toMatchObject({ kind: 'dense', shape: [B, 256, 256, 3] });
        const v = t.kind === 'dense' ? t.values : new Float32Array();
        expect(v.every((x) => x >= 0 && x <= 1)).toBe(true);
        expect(plan.draws.every((d) => !d.flip && !d.jitter)).toBe(true); // no augmentation at all
        for (const i of plan.indices) read.push(file(i, 'normal', 'png'));
        break;
      }
      case 'jigsaw':
        expect(t).toEqual({ kind: 'class', labels: Int32Array.from(plan.draws, (d) => d.permutation) });
        expect(batch.inputs.every((x) => x >= 0 && x <= 1)).toBe(true); // tiles are not normalised
        break;
    }
    if (spec.normalize) {
      // Normalised input: back in [0, 1] after undoing the task's normalisation.
      const { mean, std } = spec.normalize;
      expect(batch.inputs.every((x, k) => x * std[k % 3]! + mean[k % 3]! > -1e-6 && x * std[k % 3]! + mean[k % 3]! < 1 + 1e-6)).toBe(true);
    }
    read.sort();
    expect(batch.sha256).toBe(sha256(read.map((f) => sha256(readFileSync(f))).join('')));
  });

  test.each(tasks)('%s: as a data set object (zcbench data add) it decodes to the same minibatch, and a smaller batch to its head', async (task) => {
    const batch = await load(root, task, 2, 4);
    const bytes = encodeMinibatch(batch, { task });
    const sha = sha256(Buffer.from(bytes));
    const back = decodeMinibatch(bytes, sha, 2);
    expect(back.inputShape).toEqual(batch.inputShape);
    expect(Buffer.from(back.inputs.buffer).equals(Buffer.from(batch.inputs.buffer))).toBe(true);
    expect(back.target).toEqual(batch.target);
    expect(back.sha256).toBe(sha);
    const small = await load(root, task, 1, 4);
    const cut = decodeMinibatch(bytes, sha, 1);
    expect(Buffer.from(cut.inputs.buffer).equals(Buffer.from(small.inputs.buffer))).toBe(true);
    expect(cut.target).toEqual(small.target);
    expect(() => decodeMinibatch(bytes, sha, 3)).toThrow(`minibatch ${sha}: holds 2 samples; the job asks for 3`);
  });

  test('same seed → bit-identical batch; another seed → another', async () => {
    for (const task of ['class_scene', 'jigsaw'] as TaskName[]) {
      const a = await load(root, task, 1, 8);
      const again = await load(root, task, 1, 8);
      const other = await load(root, task, 1, 9);
      expect(Buffer.from(a.inputs.buffer).equals(Buffer.from(again.inputs.buffer))).toBe(true);
      expect(a.target).toEqual(again.target);
      expect(a.sha256).toBe(again.sha256);
      expect(Buffer.from(a.inputs.buffer).equals(Buffer.from(other.inputs.buffer))).toBe(false);
    }
  });

  test('augmentation draws: flip about half, grayscale about 30 %, jitter factors in their ranges, tile offsets 0..21', () => {
    let flips = 0;
    let grays = 0;
    let n = 0;
    const offsets = new Set<number>();
    for (let seed = 0; seed < 40; seed++) {
      for (const d of planTaskonomy('jigsaw', 100, 50, new Rng(seed)).draws) {
        n++;
        if (d.flip) flips++;
        if (d.grayscale) grays++;
        const j = d.jitter!;
        expect([...j.order].sort()).toEqual([0, 1, 2, 3]);
        for (const f of [j.brightness, j.contrast, j.saturation]) expect(f >= 0.8 && f < 1.2).toBe(true);
        expect(j.hue >= -0.1 && j.hue < 0.1).toBe(true);
        expect(d.permutation >= 0 && d.permutation < 1000).toBe(true);
        for (const [a, b] of d.tileOffsets) offsets.add(a).add(b);
      }
    }
    expect(Math.abs(flips - n / 2)).toBeLessThan(5 * Math.sqrt(n / 4));
    expect(Math.abs(grays - 0.3 * n)).toBeLessThan(5 * Math.sqrt(n * 0.21));
    expect([...offsets].sort((a, b) => a - b)).toEqual(Array.from({ length: 22 }, (_, i) => i));
  });

  test('a folder without view lists: <building>/rgb/*_domain_rgb.png in name order', async () => {
    const bare = join(dir, 'bare');
    writeTaskonomy(bare, 'bldB', false);
    const plan = planTaskonomy('autoencoder', VIEWS, 2, new Rng(3).fork('data'));
    const batch = await load(bare, 'autoencoder', 2, 3);
    // Natural order: point_0, point_1, ..., point_9; the digest covers only the views read.
    const names = Array.from({ length: VIEWS }, (_, i) => join(bare, 'bldB', 'rgb', `${viewName(i)}_domain_rgb.png`));
    expect(batch.sha256).toBe(
      sha256(
        plan.indices
          .map((i) => names[i]!)
          .sort()
          .map((f) => sha256(readFileSync(f)))
          .join(''),
      ),
    );
    // One building given directly works the same.
    const direct = await load(join(bare, 'bldB'), 'autoencoder', 2, 3);
    expect(Buffer.from(direct.inputs.buffer).equals(Buffer.from(batch.inputs.buffer))).toBe(true);
  });

  test('errors name the file and what is wrong', async () => {
    const broken = join(dir, 'broken');
    writeTaskonomy(broken);
    const b = join(broken, 'bldA');
    // Each case breaks one domain in every view, so the batch's first view meets it.
    const first = planTaskonomy('normal', VIEWS, 1, new Rng(1).fork('data')).indices[0]!;
    const file = (d: string, ext: string, i = first) => join(b, d, `${viewName(i)}_domain_${d}.${ext}`);
    const breakAll = (d: string, ext: string, bytes: Buffer | string | null) => {
      for (let i = 0; i < VIEWS; i++) {
        if (bytes === null) unlinkSync(file(d, ext, i));
        else writeFileSync(file(d, ext, i), bytes);
      }
    };

    breakAll('normal', 'png', null);
    let err = await load(broken, 'normal', 1).catch((e) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toBe(`${file('normal', 'png')}: missing: the view is listed in ${join(b, 'image_list_final5k.json')} but this file does not exist`);

    breakAll('segmentsemantic', 'png', png(2, 1, 0, Uint8Array.of(3, 18)));
    err = await load(broken, 'segmentsemantic', 1).catch((e) => e);
    expect(err.message).toBe(
      `${file('segmentsemantic', 'png')}: pixel (0, 1) has label 18, outside 0..17 (NASLib maps 0 and 1 to class 0, so 18 values give 17 classes)`,
    );

    breakAll('class_scene', 'npy', npyF4(new Float32Array(364)));
    err = await load(broken, 'class_scene', 1).catch((e) => e);
    expect(err.message).toBe(`${file('class_scene', 'npy')}: class vector shape is (364), expected (365,)`);

    breakAll(
      'point_info',
      'json',
      JSON.stringify({ camera_location: [1, 2, 3], camera_rotation_final: [0, 0, 0], bounding_box_ranges: { x: [0, 1], y: [0, 1] } }),
    );
    err = await load(broken, 'room_layout', 1).catch((e) => e);
    expect(err.message).toBe(`${file('point_info', 'json')}: point_info field bounding_box_ranges.z is undefined, expected 2 finite numbers`);

    breakAll('rgb', 'png', png(2, 2, 6, new Uint8Array(16)));
    err = await load(broken, 'autoencoder', 1).catch((e) => e);
    expect(err.message).toBe(`${file('rgb', 'png')}: expected an 8-bit RGB PNG (colour type 2), got colour type 6 with bit depth 8`);

    await expect(load(broken, 'jigsaw', 8)).rejects.toThrow(
      new InputError('batchSize', 8, `at most 7: the batch comes from the first 70 % of the 10 training views in ${broken}`),
    );
    const empty = join(dir, 'not-taskonomy');
    mkdirSync(empty);
    await expect(load(empty, 'normal', 1)).rejects.toThrow(`invalid data: ${JSON.stringify(empty)} (a directory with a Taskonomy folder:`);
    await expect(load(join(dir, 'nope'), 'normal', 1)).rejects.toThrow(`invalid data: ${JSON.stringify(join(dir, 'nope'))} (a directory: a Taskonomy folder:`);
  });
});

/** A Python with Pillow and NumPy, if this machine has one (the cross-check is skipped otherwise). */
const pillowPython = ['python3', '/usr/bin/python3'].find((py) => spawnSync(py, ['-c', 'import PIL, numpy'], { stdio: 'ignore' }).status === 0);

describe('Taskonomy transforms against Pillow itself', () => {
  (pillowPython ? test : test.skip)('class_object, segmentsemantic, normal and jigsaw samples equal the same transform chain run with Pillow', async () => {
    const B = 2;
    const cases: Array<{ task: TaskName; batch: Minibatch; plan: ReturnType<typeof planTaskonomy> }> = [];
    for (const task of ['class_object', 'segmentsemantic', 'normal', 'jigsaw'] as TaskName[]) {
      cases.push({ task, batch: await load(root, task, B, 11), plan: planTaskonomy(task, VIEWS, B, new Rng(11).fork('data')) });
    }
    const job = cases.map(({ task, plan }) => ({
      task,
      samples: plan.indices.map((i, n) => ({
        view: join(root, 'bldA', '{domain}', `${viewName(i)}_domain_{domain}.png`),
        ...plan.draws[n]!,
        perm: JIGSAW_PERMUTATIONS[plan.draws[n]!.permutation],
      })),
    }));
    // torchvision's PIL functional ops as NASLib's load_ops chains them, written directly against Pillow.
    const script = `
import json, sys, numpy as np
from PIL import Image, ImageEnhance
job = json.load(sys.stdin)
def hue(img, f):
    h, s, v = img.convert('HSV').split()
    a = np.array(h, dtype=np.uint8)
    with np.errstate(over='ignore'):
        a += np.array(int(f * 255)).astype(np.uint8)
    return Image.merge('HSV', (Image.fromarray(a, 'L'), s, v)).convert('RGB')
def jitter(img, j):
    for op in j['order']:
        if op == 0: img = ImageEnhance.Brightness(img).enhance(j['brightness'])
        elif op == 1: img = ImageEnhance.Contrast(img).enhance(j['contrast'])
        elif op == 2: img = ImageEnhance.Color(img).enhance(j['saturation'])
        else: img = hue(img, j['hue'])
    return img
out = {}
for case in job:
    task, res = case['task'], []
    for s in case['samples']:
        rgb = Image.open(s['view'].replace('{domain}', 'rgb')).convert('RGB')
        flip = lambda im: im.transpose(Image.FLIP_LEFT_RIGHT) if s['flip'] else im
        if task == 'jigsaw':
            img = jitter(flip(rgb.resize((255, 255), Image.BILINEAR)), s['jitter'])
            if s['grayscale']:
                g = np.array(img.convert('L'), dtype=np.uint8)
                img = Image.fromarray(np.dstack([g, g, g]), 'RGB')
            W, H = img.size
            ch, cw = H * 0.9, W * 0.9
            top, left = int(round((H - ch) / 2.0)), int(round((W - cw) / 2.0))
            img = img.crop((left, top, left + cw, top + ch)).resize((W, H), Image.BILINEAR)
            unit = int(H / 3)
            tiles = []
            for n in range(9):
                pos = s['perm'][n]
                i, j = s['tileOffsets'][n]
                y0, x0 = (pos // 3) * unit + i, (pos % 3) * unit + j
                tiles.append(np.asarray(img.crop((x0, y0, x0 + 64, y0 + 64))))
            res.append({'input': np.stack(tiles).tobytes().hex()})
            continue
        img = flip(rgb.resize((256, 256), Image.BILINEAR))
        if s['jitter']: img = jitter(img, s['jitter'])
        r = {'input': np.asarray(img).tobytes().hex()}
        if task == 'segmentsemantic':
            lab = np.array(Image.open(s['view'].replace('{domain}', 'segmentsemantic')))
            lab[lab == 0] = 1
            lab = lab - 1
            r['label'] = np.asarray(flip(Image.fromarray(lab.astype(np.uint8), 'L').resize((256, 256), Image.NEAREST))).tobytes().hex()
        if task == 'normal':
            r['label'] = np.asarray(Image.open(s['view'].replace('{domain}', 'normal')).convert('RGB').resize((256, 256), Image.BILINEAR)).tobytes().hex()
        res.append(r)
    out[task] = res
json.dump(out, sys.stdout)
`;
    const py = spawnSync(pillowPython!, ['-c', script], { input: JSON.stringify(job), encoding: 'utf8', maxBuffer: 1 << 28 });
    expect(py.stderr).toBe('');
    const expected = JSON.parse(py.stdout) as Record<string, Array<{ input: string; label?: string }>>;
    const f = Math.fround;
    for (const { task, batch } of cases) {
      const spec = TASK_SPECS[task];
      const per = batch.inputs.length / B;
      expected[task]!.forEach((e, n) => {
        const bytes = Buffer.from(e.input, 'hex');
        expect(bytes.length).toBe(per);
        const norm = spec.normalize;
        const want = Float32Array.from(bytes, (v, k) => (norm ? f(f(f(v / 255) - f(norm.mean[k % 3]!)) / f(norm.std[k % 3]!)) : f(v / 255)));
        const got = batch.inputs.subarray(n * per, (n + 1) * per);
        expect([task, n, Buffer.from(got.slice().buffer).equals(Buffer.from(want.buffer))]).toEqual([task, n, true]);
        if (e.label) {
          const lb = Buffer.from(e.label, 'hex');
          const t = batch.target;
          const gotLabel =
            t.kind === 'pixel_class'
              ? Array.from(t.labels.subarray(n * 65536, (n + 1) * 65536))
              : t.kind === 'dense'
                ? Array.from(t.values.subarray(n * lb.length, (n + 1) * lb.length))
                : [];
          const wantLabel = t.kind === 'pixel_class' ? Array.from(lb) : Array.from(lb, (v) => f(v / 255));
          expect([task, n, gotLabel.length, gotLabel.every((v, k) => v === wantLabel[k])]).toEqual([task, n, wantLabel.length, true]);
        }
      });
    }
  });
});
