/**
 * The few Pillow operations NASLib's Taskonomy transforms run on 8-bit images (torchvision's
 * PIL backend), ported from Pillow's C sources (libImaging Resample.c, Geometry.c, Blend.c,
 * Convert.c) with the same integer and float32 arithmetic, so results match Pillow's bytes.
 * Images are row-major, channels interleaved (1 = "L", 3 = "RGB").
 */
export interface Image8 {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

const f32 = Math.fround;

export function newImage(width: number, height: number, channels: 1 | 3): Image8 {
  return { width, height, channels, data: new Uint8Array(width * height * channels) };
}

// --- resize -------------------------------------------------------------------------------

/** Resample.c: 8-bit fixed-point coefficients with 22 fraction bits. */
const PRECISION_BITS = 32 - 8 - 2;

interface Coefficients {
  ksize: number;
  bounds: Int32Array; // per output pixel: first input index, number of taps
  kk: Int32Array;
}

/** precompute_coeffs + normalize_coeffs_8bpc for the bilinear (triangle) filter, support 1. */
function bilinearCoefficients(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = 1 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const invFilterscale = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // C's (int) truncates toward zero.
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * invFilterscale);
      const w = t < 1 ? 1 - t : 0;
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < ksize; x++) {
      const v = x < xmax ? (ww !== 0 ? k[x]! / ww : k[x]!) : 0;
      kk[xx * ksize + x] = Math.trunc(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Image.resize(size, BILINEAR): antialiased two-pass resample (horizontal, then vertical). */
export function resizeBilinear(img: Image8, width: number, height: number): Image8 {
  const C = img.channels;
  let src = img;
  if (width !== img.width) {
    const { ksize, bounds, kk } = bilinearCoefficients(img.width, width);
    const out = newImage(width, img.height, C);
    for (let y = 0; y < img.height; y++) {
      const rowIn = y * img.width * C;
      const rowOut = y * width * C;
      for (let xx = 0; xx < width; xx++) {
        const xmin = bounds[xx * 2]!;
        const xmax = bounds[xx * 2 + 1]!;
        for (let c = 0; c < C; c++) {
          let ss = 1 << (PRECISION_BITS - 1);
          for (let x = 0; x < xmax; x++) ss += img.data[rowIn + (x + xmin) * C + c]! * kk[xx * ksize + x]!;
          out.data[rowOut + xx * C + c] = clip8(ss);
        }
      }
    }
    src = out;
  }
  if (height !== img.height) {
    const { ksize, bounds, kk } = bilinearCoefficients(img.height, height);
    const out = newImage(width, height, C);
    const rowLen = width * C;
    for (let yy = 0; yy < height; yy++) {
      const ymin = bounds[yy * 2]!;
      const ymax = bounds[yy * 2 + 1]!;
      for (let i = 0; i < rowLen; i++) {
        let ss = 1 << (PRECISION_BITS - 1);
        for (let y = 0; y < ymax; y++) ss += src.data[(y + ymin) * rowLen + i]! * kk[yy * ksize + y]!;
        out.data[yy * rowLen + i] = clip8(ss);
      }
    }
    src = out;
  }
  return src === img ? { ...img, data: img.data.slice() } : src;
}

/** Image.resize(size, NEAREST): Geometry.c's ImagingScaleAffine (pixel centres, incremental). */
export function resizeNearest(img: Image8, width: number, height: number): Image8 {
  if (width === img.width && height === img.height) return { ...img, data: img.data.slice() };
  const C = img.channels;
  const a0 = img.width / width;
  const a4 = img.height / height;
  const xin = new Int32Array(width);
  let xo = a0 * 0.5;
  for (let x = 0; x < width; x++) {
    xin[x] = xo < 0 ? -1 : Math.trunc(xo);
    xo += a0;
  }
  const out = newImage(width, height, C);
  let yo = a4 * 0.5;
  for (let y = 0; y < height; y++) {
    const yi = yo < 0 ? -1 : Math.trunc(yo);
    if (yi >= 0 && yi < img.height) {
      for (let x = 0; x < width; x++) {
        const xi = xin[x]!;
        if (xi < 0 || xi >= img.width) continue;
        for (let c = 0; c < C; c++) out.data[(y * width + x) * C + c] = img.data[(yi * img.width + xi) * C + c]!;
      }
    }
    yo += a4;
  }
  return out;
}

// --- geometry -------------------------------------------------------------------------------

export function hflip(img: Image8): Image8 {
  const { width: W, height: H, channels: C } = img;
  const out = newImage(W, H, C);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < C; c++) out.data[(y * W + x) * C + c] = img.data[(y * W + (W - 1 - x)) * C + c]!;
    }
  }
  return out;
}

/** Image.crop((left, top, left + width, top + height)) inside the image. */
export function crop(img: Image8, left: number, top: number, width: number, height: number): Image8 {
  const C = img.channels;
  const out = newImage(width, height, C);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * img.width + left) * C;
    out.data.set(img.data.subarray(from, from + width * C), y * width * C);
  }
  return out;
}

// --- colour -------------------------------------------------------------------------------

/** convert("L"): ITU-R 601-2 luma in 16-bit fixed point (Convert.c's L24). */
export function toGray(img: Image8): Image8 {
  if (img.channels === 1) return { ...img, data: img.data.slice() };
  const n = img.width * img.height;
  const out = newImage(img.width, img.height, 1);
  const d = img.data;
  for (let p = 0; p < n; p++) out.data[p] = (d[3 * p]! * 19595 + d[3 * p + 1]! * 38470 + d[3 * p + 2]! * 7471 + 0x8000) >> 16;
  return out;
}

/** convert("RGB") of an "L" image: the value in every channel. */
export function grayToRgb(img: Image8): Image8 {
  const n = img.width * img.height;
  const out = newImage(img.width, img.height, 3);
  for (let p = 0; p < n; p++) out.data[3 * p] = out.data[3 * p + 1] = out.data[3 * p + 2] = img.data[p]!;
  return out;
}

/** Image.blend(a, b, alpha) = a + alpha·(b − a) in C float, truncated; clipped when extrapolating. */
export function blend(a: Uint8Array, b: Uint8Array, alpha: number): Uint8Array {
  const al = f32(alpha); // Python float → C float argument
  if (al === 0) return a.slice();
  if (al === 1) return b.slice();
  const out = new Uint8Array(a.length);
  const interpolate = al >= 0 && al <= 1;
  for (let i = 0; i < a.length; i++) {
    const v = f32(a[i]! + f32(al * (b[i]! - a[i]!)));
    out[i] = interpolate ? Math.trunc(v) : v <= 0 ? 0 : v >= 255 ? 255 : Math.trunc(v);
  }
  return out;
}

/** ImageEnhance.Brightness: blend with black. */
export function adjustBrightness(img: Image8, factor: number): Image8 {
  return { ...img, data: blend(new Uint8Array(img.data.length), img.data, factor) };
}

/** ImageEnhance.Contrast: blend with the mean grey level (of the L image, rounded). */
export function adjustContrast(img: Image8, factor: number): Image8 {
  const gray = toGray(img).data;
  let sum = 0;
  for (let i = 0; i < gray.length; i++) sum += gray[i]!;
  const mean = Math.trunc(sum / gray.length + 0.5);
  return { ...img, data: blend(new Uint8Array(img.data.length).fill(mean), img.data, factor) };
}

/** ImageEnhance.Color: blend with the image's own grey version. */
export function adjustSaturation(img: Image8, factor: number): Image8 {
  if (img.channels === 1) return { ...img, data: img.data.slice() };
  return { ...img, data: blend(grayToRgb(toGray(img)).data, img.data, factor) };
}

/** torchvision's PIL adjust_hue: shift the HSV hue byte by trunc(factor·255), wrapping. */
export function adjustHue(img: Image8, factor: number): Image8 {
  if (img.channels === 1) return { ...img, data: img.data.slice() };
  const shift = ((Math.trunc(factor * 255) % 256) + 256) % 256;
  const out = newImage(img.width, img.height, 3);
  const hsv = new Uint8Array(3);
  const n = img.width * img.height;
  for (let p = 0; p < n; p++) {
    rgbToHsv(img.data, 3 * p, hsv);
    hsv[0] = (hsv[0]! + shift) & 255;
    hsvToRgb(hsv, out.data, 3 * p);
  }
  return out;
}

function clipInt8(v: number): number {
  return v <= 0 ? 0 : v < 256 ? v : 255;
}

/** Convert.c rgb2hsv_row (float32 locals, double literals). */
function rgbToHsv(d: Uint8Array, o: number, out: Uint8Array): void {
  const r = d[o]!;
  const g = d[o + 1]!;
  const b = d[o + 2]!;
  const maxc = Math.max(r, g, b);
  const minc = Math.min(r, g, b);
  out[2] = maxc;
  if (minc === maxc) {
    out[0] = 0;
    out[1] = 0;
    return;
  }
  const cr = f32(maxc - minc);
  const s = f32(cr / maxc);
  const rc = f32((maxc - r) / cr);
  const gc = f32((maxc - g) / cr);
  const bc = f32((maxc - b) / cr);
  let h: number;
  if (r === maxc) h = f32(bc - gc);
  else if (g === maxc) h = f32(2.0 + rc - bc);
  else h = f32(4.0 + gc - rc);
  h = f32((h / 6.0 + 1.0) % 1.0);
  out[0] = clipInt8(Math.trunc(h * 255.0));
  out[1] = clipInt8(Math.trunc(s * 255.0));
}

/** C round(): half away from zero (the arguments here are never negative). */
function cRound(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

/** Convert.c hsv2rgb. */
function hsvToRgb(hsv: Uint8Array, out: Uint8Array, o: number): void {
  const h = hsv[0]!;
  const s = hsv[1]!;
  const v = hsv[2]!;
  if (s === 0) {
    out[o] = out[o + 1] = out[o + 2] = v;
    return;
  }
  const i = Math.floor((h * 6.0) / 255.0);
  const f = f32((h * 6.0) / 255.0 - i);
  const fs = f32(s / 255.0);
  const p = clipInt8(cRound(v * (1.0 - fs)));
  const q = clipInt8(cRound(v * (1.0 - f32(fs * f))));
  const t = clipInt8(cRound(v * (1.0 - fs * (1.0 - f))));
  // Convert.c's switch (i % 6) over the sextant of the hue circle.
  const sextant = i % 6;
  const rgb =
    sextant === 0 ? [v, t, p] : sextant === 1 ? [q, v, p] : sextant === 2 ? [p, v, t] : sextant === 3 ? [p, q, v] : sextant === 4 ? [t, p, v] : [v, p, q];
  const [r, g, b] = rgb as [number, number, number];
  out[o] = r;
  out[o + 1] = g;
  out[o + 2] = b;
}
