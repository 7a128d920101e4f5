import { FormatError } from '../../errors';

/**
 * Taskonomy's room_layout target as NASLib builds it from a view's point_info json
 * (load_ops.point_info2room_layout): the room's bounding box in the camera frame, made
 * "x-major" (the world rotated by a multiple of 90° about z so the camera looks within 45° of
 * +x), as 9 numbers — box centre (3), camera Euler angles (static xyz, 3), box extents (3) —
 * standardised with fixed statistics. Geometry follows transforms3d (euler2mat, mat2euler,
 * axangle2mat, affines.compose) in float64.
 */

export const ROOM_LAYOUT_MEAN = [-1.64378987e-2, 7.03680296e-2, -2.72496318, 1.56155458, -2.83141191e-4, -1.57136446, 4.81219593, 3.69077521, 2.61998101];
export const ROOM_LAYOUT_STD = [0.73644884, 0.53726124, 1.45194796, 0.19338562, 0.01549811, 0.42258508, 2.80763433, 1.92678054, 0.89655357];

type Mat = number[][];

const matmul = (a: Mat, b: Mat): Mat => a.map((row) => b[0]!.map((_, j) => row.reduce((s, v, k) => s + v * b[k]![j]!, 0)));
const transpose = (a: Mat): Mat => a[0]!.map((_, j) => a.map((row) => row[j]!));

/** Gauss–Jordan inverse with partial pivoting (the matrices here are small and well conditioned). */
function inverse(m: Mat): Mat {
  const n = m.length;
  const a = m.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    if (a[p]![c] === 0) throw new RangeError('singular matrix');
    [a[c], a[p]] = [a[p]!, a[c]!];
    const pivot = a[c]![c]!;
    a[c] = a[c]!.map((v) => v / pivot);
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = a[r]![c]!;
      if (f !== 0) a[r] = a[r]!.map((v, j) => v - f * a[c]![j]!);
    }
  }
  return a.map((row) => row.slice(n));
}

/** transforms3d.euler.euler2mat(ai, aj, ak, 'sxyz'). */
export function euler2matSxyz(ai: number, aj: number, ak: number): Mat {
  const [si, sj, sk] = [Math.sin(ai), Math.sin(aj), Math.sin(ak)];
  const [ci, cj, ck] = [Math.cos(ai), Math.cos(aj), Math.cos(ak)];
  const [cc, cs, sc, ss] = [ci * ck, ci * sk, si * ck, si * sk];
  return [
    [cj * ck, sj * sc - cs, sj * cc + ss],
    [cj * sk, sj * ss + cc, sj * cs - sc],
    [-sj, cj * si, cj * ci],
  ];
}

const EPS4 = Number.EPSILON * 4;

/** transforms3d.euler.mat2euler(M, 'sxyz'). */
export function mat2eulerSxyz(m: Mat): [number, number, number] {
  const cy = Math.sqrt(m[0]![0]! * m[0]![0]! + m[1]![0]! * m[1]![0]!);
  if (cy > EPS4) return [Math.atan2(m[2]![1]!, m[2]![2]!), Math.atan2(-m[2]![0]!, cy), Math.atan2(m[1]![0]!, m[0]![0]!)];
  return [Math.atan2(-m[1]![2]!, m[1]![1]!), Math.atan2(-m[2]![0]!, cy), 0];
}

/** transforms3d.axangles.axangle2mat about the z axis. */
function rotZ(angle: number): Mat {
  const [x, y, z] = [0, 0, 1];
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const C = 1 - c;
  const [xs, ys, zs] = [x * s, y * s, z * s];
  const [xC, yC, zC] = [x * C, y * C, z * C];
  const [xyC, yzC, zxC] = [x * yC, y * zC, z * xC];
  return [
    [x * xC + c, xyC - zs, zxC + ys],
    [xyC + zs, y * yC + c, yzC - xs],
    [zxC - ys, yzC + xs, z * zC + c],
  ];
}

function numberArray(file: string, value: unknown, field: string, length: number): number[] {
  if (!Array.isArray(value) || value.length !== length || !value.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new FormatError(file, `point_info field ${field} is ${JSON.stringify(value)}, expected ${length} finite numbers`);
  }
  return value as number[];
}

/** Camera pose with NASLib's x/y swap ("x and y are flipped in room layout"). */
function cameraMatrix(position: number[], euler: number[]): Mat {
  const r = euler2matSxyz(euler[0]!, euler[1]!, euler[2]!);
  const m: Mat = [
    [...r[0]!, position[0]!],
    [...r[1]!, position[1]!],
    [...r[2]!, position[2]!],
    [0, 0, 0, 1],
  ];
  return [m[1]!, m[0]!.map((v) => -v), m[2]!, m[3]!];
}

/** The 9 standardised numbers of one view's room layout (float64; the caller stores float32). */
export function roomLayoutTarget(file: string, pointInfo: unknown): number[] {
  if (typeof pointInfo !== 'object' || pointInfo === null) throw new FormatError(file, 'point_info is not a json object');
  const view = pointInfo as Record<string, unknown>;
  const position = numberArray(file, view.camera_location, 'camera_location', 3);
  const euler = numberArray(file, view.camera_rotation_final, 'camera_rotation_final', 3);
  const box = view.bounding_box_ranges as Record<string, unknown> | undefined;
  if (typeof box !== 'object' || box === null)
    throw new FormatError(file, `point_info field bounding_box_ranges is ${JSON.stringify(box)}, expected {x, y, z} ranges`);
  const bx = numberArray(file, box.x, 'bounding_box_ranges.x', 2);
  const by = numberArray(file, box.y, 'bounding_box_ranges.y', 2);
  const bz = numberArray(file, box.z, 'bounding_box_ranges.z', 2);
  // The box's y range is mirrored with respect to the camera matrix.
  let ranges: Mat = [bx, [-by[1]!, -by[0]!], bz];
  let camera = cameraMatrix(position, euler);

  // Choose the quarter turn about z that brings world +x closest to the camera's viewing axis (−z).
  const camRot = camera.slice(0, 3).map((row) => row.slice(0, 3));
  let best = { degrees: 180, rotation: null as Mat | null };
  for (let k = 0; k < 4; k++) {
    const rot = rotZ((k * Math.PI) / 2);
    const globalX = matmul(rot, [[1], [0], [0]]);
    const inCam = matmul(transpose(camRot), globalX).map((r) => r[0]!);
    // Clamped: rounding may push the cosine a hair past ±1 (NumPy would give NaN there).
    const cos = Math.max(-1, Math.min(1, -inCam[2]!));
    const degrees = (Math.acos(cos) * 180) / Math.PI;
    if (degrees < best.degrees) best = { degrees, rotation: inverse(rot) };
  }
  if (!best.rotation) throw new FormatError(file, 'point_info camera pose gives no viewing direction (NaN angles?)');
  ranges = matmul(best.rotation, ranges).map((r) => (r[0]! > r[1]! ? [r[1]!, r[0]!] : r));
  const worldRot: Mat = [
    [...best.rotation[0]!, 0],
    [...best.rotation[1]!, 0],
    [...best.rotation[2]!, 0],
    [0, 0, 0, 1],
  ];
  camera = matmul(worldRot, camera);

  const cameraEuler = mat2eulerSxyz(camera.slice(0, 3).map((row) => row.slice(0, 3)));
  const toCam = inverse(camera);
  const sum = [0, 0, 0];
  for (const x of ranges[0]!) {
    for (const y of ranges[1]!) {
      for (const z of ranges[2]!) {
        const p = matmul(toCam, [[x], [y], [z], [1]]);
        for (let i = 0; i < 3; i++) sum[i] = sum[i]! + p[i]![0]!;
      }
    }
  }
  const centre = sum.map((v) => v / 8);
  const extents = ranges.map((r) => r[1]! - r[0]!);
  return [...centre, ...cameraEuler, ...extents].map((v, i) => (v - ROOM_LAYOUT_MEAN[i]!) / ROOM_LAYOUT_STD[i]!);
}
