/**
 * Dilated convs as undilated ones: with stride 1 and dilation (dh, dw), output (oh, ow) reads only
 * padded-input positions ≡ (oh, ow) mod (dh, dw), so each of the dh·dw phases (ph, pw) of the output is
 * an ordinary 3×3 (HH×WW), stride-1, pad-0 conv of the matching phase of the padded input:
 *
 *   out[n, f, dh·i + ph, dw·j + pw] = conv(xq[n, ph, pw])[f, i, j],  xq[n, ph, pw][c, i, j] = xpad[n, c, dh·i + ph, dw·j + pw]
 *
 * The phases become images of one batch (N·dh·dw images of C × Hq × Wq, Hq = ⌈(H + 2·padH) / dh⌉, the
 * short phases zero-filled), so the undilated conv can take a Winograd path (./frame.ts runs it with
 * the usual choice); its dw and db already sum over the phases. Backward: dout is gathered the same way
 * (0 for the outputs past a short phase's end), and every padded-input position belongs to exactly one
 * phase, so dx is a gather of the phases' dx (no sums: the same rounding as the undilated path).
 * The moves are plain JS loops over the data: worth it where the undilated conv is several times faster
 * than im2col + GEMM (the frame only splits then).
 */
import type { ConvInfo } from '../geometry.ts';
import type { FloatArray } from '../types.ts';

export interface PhasePlan {
  /** phases per axis (the dilations) */
  dh: number;
  dw: number;
  /** rows and columns of one phase image (zero-filled past the padded input) */
  Hq: number;
  Wq: number;
  /** output rows and columns of one phase image: Hq − HH + 1 (≥ the outputs of every phase) */
  Hoq: number;
  Woq: number;
}

export function phasePlan(g: ConvInfo): PhasePlan {
  const dh = g.dilationH, dw = g.dilationW;
  const Hq = Math.ceil((g.H + 2 * g.padH) / dh);
  const Wq = Math.ceil((g.W + 2 * g.padW) / dw);
  return { dh, dw, Hq, Wq, Hoq: Hq - g.HH + 1, Woq: Wq - g.WW + 1 };
}

/**
 * xq (N·dh·dw, C, Hq, Wq) ← the phases of x zero-padded by (padH, padW); xq must be zero-filled. Each
 * row of x is read once, densely, its columns going to the dw phase rows in turn (dw = 2: in pairs).
 */
export function gatherInput(x: FloatArray, g: ConvInfo, p: PhasePlan, xq: FloatArray): void {
  walkRows(g, p, (xRow, qRow, pwOf0, imgStride) => {
    const { W } = g;
    if (p.dw === 1) {
      for (let c = 0; c < W; c++) xq[qRow + g.padW + c] = x[xRow + c];
    } else if (p.dw === 2) {
      // column c goes to phase (c + padW) % 2, at column (c + padW) >> 1 of its row
      let a = qRow + pwOf0 * imgStride + (g.padW >> 1);
      let b = qRow + (1 - pwOf0) * imgStride + ((g.padW + 1) >> 1);
      let c = 0;
      for (; c + 1 < W; c += 2) {
        xq[a++] = x[xRow + c];
        xq[b++] = x[xRow + c + 1];
      }
      if (c < W) xq[a] = x[xRow + c];
    } else {
      for (let c = 0; c < W; c++) {
        const xp = c + g.padW, pw = xp % p.dw;
        xq[qRow + pw * imgStride + (xp - pw) / p.dw] = x[xRow + c];
      }
    }
  });
}

/**
 * Calls row(xRow, qRow, pwOf0, imgStride) for every row of x: xRow its start in x, qRow the start of its
 * row in phase (ph, 0) of xq (phase (ph, pw) is pw·imgStride further), pwOf0 the phase of column 0.
 */
function walkRows(g: ConvInfo, p: PhasePlan, row: (xRow: number, qRow: number, pwOf0: number, imgStride: number) => void): void {
  const { N, C, H, W, padH, padW } = g;
  const { dh, dw, Hq, Wq } = p;
  const plane = Hq * Wq;
  const imgStride = C * plane;
  const pwOf0 = padW % dw;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      for (let y = 0; y < H; y++) {
        const yp = y + padH;
        const ph = yp % dh, i = (yp - ph) / dh;
        row(((n * C + c) * H + y) * W, ((n * dh + ph) * dw * C + c) * plane + i * Wq, pwOf0, imgStride);
      }
    }
  }
}

/**
 * Moves between the output (N, F, Ho, Wo) and its phases (N·dh·dw, F, Hoq, Woq): toPhases true gathers
 * out → outq (dout; phase positions past the output are set to 0), false scatters outq → out. Each output
 * row is walked once, densely, taking its columns from the dw phase rows in turn (dw = 2: in pairs).
 */
export function movePhases(out: FloatArray, outq: FloatArray, g: ConvInfo, p: PhasePlan, toPhases: boolean): void {
  const { N, F, Ho, Wo } = g;
  const { dh, dw, Hoq, Woq } = p;
  const plane = Hoq * Woq;
  const imgStride = F * plane; // between consecutive phase images
  if (toPhases) outq.fill(0);
  for (let n = 0; n < N; n++) {
    for (let f = 0; f < F; f++) {
      for (let oh = 0; oh < Ho; oh++) {
        const ph = oh % dh, i = (oh - ph) / dh;
        const o = ((n * F + f) * Ho + oh) * Wo;
        // phase (ph, pw) row i: image (n·dh + ph)·dw + pw, filter f
        const q0 = ((n * dh + ph) * dw * F + f) * plane + i * Woq;
        if (dw === 1) {
          if (toPhases) for (let x = 0; x < Wo; x++) outq[q0 + x] = out[o + x];
          else for (let x = 0; x < Wo; x++) out[o + x] = outq[q0 + x];
        } else if (dw === 2) {
          const q1 = q0 + imgStride;
          const pairs = Wo >> 1;
          if (toPhases) {
            for (let j = 0; j < pairs; j++) {
              outq[q0 + j] = out[o + 2 * j];
              outq[q1 + j] = out[o + 2 * j + 1];
            }
            if (Wo & 1) outq[q0 + pairs] = out[o + Wo - 1];
          } else {
            for (let j = 0; j < pairs; j++) {
              out[o + 2 * j] = outq[q0 + j];
              out[o + 2 * j + 1] = outq[q1 + j];
            }
            if (Wo & 1) out[o + Wo - 1] = outq[q0 + pairs];
          }
        } else {
          for (let x = 0; x < Wo; x++) {
            const pw = x % dw;
            const q = q0 + pw * imgStride + (x - pw) / dw;
            if (toPhases) outq[q] = out[o + x];
            else out[o + x] = outq[q];
          }
        }
      }
    }
  }
}

/** dx (N, C, H, W) ← the positions of x in the phases' dxq (N·dh·dw, C, Hq, Wq): the adjoint of gatherInput. */
export function scatterDx(dxq: FloatArray, g: ConvInfo, p: PhasePlan, dx: FloatArray): void {
  walkRows(g, p, (xRow, qRow, pwOf0, imgStride) => {
    const { W } = g;
    if (p.dw === 1) {
      for (let c = 0; c < W; c++) dx[xRow + c] = dxq[qRow + g.padW + c];
    } else if (p.dw === 2) {
      let a = qRow + pwOf0 * imgStride + (g.padW >> 1);
      let b = qRow + (1 - pwOf0) * imgStride + ((g.padW + 1) >> 1);
      let c = 0;
      for (; c + 1 < W; c += 2) {
        dx[xRow + c] = dxq[a++];
        dx[xRow + c + 1] = dxq[b++];
      }
      if (c < W) dx[xRow + c] = dxq[a];
    } else {
      for (let c = 0; c < W; c++) {
        const xp = c + g.padW, pw = xp % p.dw;
        dx[xRow + c] = dxq[qRow + pw * imgStride + (xp - pw) / p.dw];
      }
    }
  });
}
