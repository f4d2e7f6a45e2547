/**
 * The conv helpers of the GEMM module (assembly/conv.ts, assembly/winograd.ts): im2col, col2im, row
 * sums, depthwise loops, plane copies and the Winograd F(2×2, 3×3) transforms, on blocks of one
 * engine's arena. They live in the same wasm instance as the GEMM (one module, one memory), but are a
 * conv matter, so they are wrapped here rather than in ./engine.ts. Wasm backends only: on the 'js'
 * backend `available` is false and every method throws.
 */
import type { Dtype } from '../types.ts';
import type { ArenaBlock } from './arena.ts';
import { checkOperand, checkPlanes } from './checks.ts';
import type { GemmEngine } from './engine.ts';

interface ConvExports {
  wino4InputF32: WasmWino4;
  wino4DxF32: WasmWino4;
  wino4OutputF32: WasmWino4Out;
  wino4DoutF32: WasmWino4Dout;
  col2imF32: WasmCol2im;
  col2imF64: WasmCol2im;
  im2colF32: WasmCol2im;
  im2colF64: WasmCol2im;
  rowSumsF32: WasmRowSums;
  rowSumsF64: WasmRowSums;
  depthwiseForwardF32: WasmDepthwiseForward;
  depthwiseForwardF64: WasmDepthwiseForward;
  depthwiseBackwardF32: WasmDepthwiseBackward;
  depthwiseBackwardF64: WasmDepthwiseBackward;
  copyPlanes: (
    src: number, dst: number, planes: number, rows: number, rowBytes: number,
    srcPlane: number, srcLd: number, dstPlane: number, dstLd: number,
  ) => void;
  winoInputF32: WasmWino;
  winoInputF64: WasmWino;
  winoDxF32: WasmWino;
  winoDxF64: WasmWino;
  winoOutputF32: WasmWinoOut;
  winoOutputF64: WasmWinoOut;
  winoDoutF32: WasmWinoDout;
  winoDoutF64: WasmWinoDout;
  winoS2InputF32: WasmWinoS2;
  winoS2InputF64: WasmWinoS2;
  winoS2DxF32: WasmWinoS2;
  winoS2DxF64: WasmWinoS2;
  winoS2OutputF32: WasmWinoS2Out;
  winoS2OutputF64: WasmWinoS2Out;
  winoS2DoutF32: WasmWinoS2Dout;
  winoS2DoutF64: WasmWinoS2Dout;
  winoS2FilterF32: WasmWinoS2Filter;
  winoS2FilterF64: WasmWinoS2Filter;
  winoS2FilterAdjointF32: WasmWinoS2Filter;
  winoS2FilterAdjointF64: WasmWinoS2Filter;
}
type WasmWinoS2Filter = (src: number, dst: number, FC: number) => void;
type WasmWinoS2 = (
  a: number, b: number, C: number, ld: number, plane: number, tr0: number, tr1: number, tW: number, xs: number, ldt: number,
) => void;
type WasmWinoS2Out = (
  M: number, b: number, opad: number, F: number, plane: number, tr0: number, tr1: number, tW: number, xs: number, ldt: number,
  images: number,
) => void;
type WasmWinoS2Dout = (
  dpad: number, D: number, F: number, plane: number, tr0: number, tr1: number, tW: number, xs: number, ldt: number, images: number,
) => void;
type WasmWino4 = (
  a: number, b: number, C: number, ld: number, plane: number, tr0: number, tr1: number, tW: number, xs: number, ldt: number,
  work: number,
) => void;
type WasmWino4Out = (
  M: number, b: number, opad: number, F: number, plane: number, tr0: number, tr1: number, tW: number, xs: number, ldt: number,
  work: number, images: number,
) => void;
type WasmWino4Dout = (
  dpad: number, D: number, F: number, plane: number, tr0: number, tr1: number, tW: number, xs: number, ldt: number, work: number,
  images: number,
) => void;

/**
 * A band of F(4×4) tiles laid into channel rows of ldt tiles starting at tile tOffset (several images'
 * tiles side by side in one row make one wider GEMM).
 */
export interface Winograd4Band extends WinogradBand {
  ldt: number;
  tOffset: number;
}
type WasmWinoOut = (
  M: number, b: number, opad: number, F: number, plane: number, tr0: number, tr1: number, tW: number, xs: number,
) => void;
type WasmWinoDout = (dpad: number, D: number, F: number, plane: number, tr0: number, tr1: number, tW: number, xs: number) => void;
type WasmWino = (a: number, b: number, C: number, ld: number, plane: number, tr0: number, tr1: number, tW: number, xs: number) => void;

/**
 * Which Winograd F(2×2, 3×3) tiles (see assembly/winograd.ts): tile rows [tr0, tr1) of tW tiles (a
 * multiple of the lanes: 4 float32, 2 float64). Transformed tiles are 16 matrices (channels × Tb,
 * Tb = (tr1 − tr0)·tW) xs elements apart: xs ≥ channels·Tb, best not a multiple of 1024 (L1 sets).
 */
export interface WinogradBand {
  tr0: number;
  tr1: number;
  tW: number;
  xs: number;
}
type WasmDepthwiseForward = (
  x: number, w: number, b: number, out: number, nC: number, H: number, W: number, Fg: number, HH: number, WW: number,
  Ho: number, Wo: number, sh: number, sw: number, ph: number, pw: number, dh: number, dw: number, work: number, workBytes: number,
) => void;
type WasmDepthwiseBackward = (
  x: number, w: number, dout: number, dx: number, dwAcc: number, nC: number, H: number, W: number, Fg: number,
  HH: number, WW: number, Ho: number, Wo: number, sh: number, sw: number, ph: number, pw: number, dh: number, dw: number,
  work: number, workBytes: number,
) => void;
type WasmCol2im = (
  dcol: number, dx: number, C: number, H: number, W: number, HH: number, WW: number, Ho: number, Wo: number,
  sh: number, sw: number, ph: number, pw: number, dh: number, dw: number, oh0: number, oh1: number,
) => void;
type WasmRowSums = (src: number, rows: number, cols: number, ld: number, dst: number) => void;

/** The conv geometry col2im needs (a ConvInfo from ../geometry.ts has it). */
export interface Col2imGeometry {
  C: number;
  H: number;
  W: number;
  HH: number;
  WW: number;
  Ho: number;
  Wo: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  dilationH: number;
  dilationW: number;
}

/** Depthwise geometry (a ConvInfo has it): Fg filters per input channel. */
export interface DepthwiseGeometry extends Col2imGeometry {
  Fg: number;
}

export class ConvKernels {
  readonly #ex: ConvExports | undefined;
  readonly #engine: GemmEngine;

  constructor(engine: GemmEngine) {
    this.#engine = engine;
    this.#ex = engine.exports as unknown as ConvExports | undefined;
  }

  /** Whether the helpers exist: false on the 'js' backend. */
  get available(): boolean {
    return this.#ex !== undefined;
  }

  /**
   * dx (C × H × W, at dxOffset) += col2im(dcol) for output rows [oh0, oh1): dcol is C·HH·WW × P with
   * P = (oh1 − oh0)·Wo, rows in im2col order (c, kh, kw). Wasm backends only (see hasWasm).
   */
  col2imInArena(g: Col2imGeometry, oh0: number, oh1: number, dcol: ArenaBlock, dx: ArenaBlock, dxOffset = 0): void {
    const w = this.#exportsOrThrow('col2imInArena');
    this.#checkBlocks('col2imInArena', dcol, dx);
    if (!(Number.isInteger(oh0) && Number.isInteger(oh1) && 0 <= oh0 && oh0 < oh1 && oh1 <= g.Ho)) {
      throw new RangeError(`col2imInArena: bad rows [${oh0}, ${oh1}) of ${g.Ho}`);
    }
    const rows = g.C * g.HH * g.WW * (oh1 - oh0) * g.Wo;
    if (rows > dcol.length) throw new RangeError(`col2imInArena: dcol needs ${rows} elements, has ${dcol.length}`);
    checkOperand('dx', dx.length - dxOffset, dxOffset, 1, g.C * g.H * g.W, g.C * g.H * g.W);
    const size = dx.dtype === 'float32' ? 4 : 8;
    (dx.dtype === 'float32' ? w.col2imF32 : w.col2imF64)(
      dcol.byteOffset, dx.byteOffset + dxOffset * size, g.C, g.H, g.W, g.HH, g.WW, g.Ho, g.Wo,
      g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, oh0, oh1,
    );
  }

  /**
   * col (C·HH·WW × P, P = (oh1 − oh0)·Wo, rows in order (c, kh, kw)) = the patches of x (C × H × W) for
   * output rows [oh0, oh1), 0 outside the input. Wasm backends only (see hasWasm).
   */
  im2colInArena(g: Col2imGeometry, oh0: number, oh1: number, x: ArenaBlock, col: ArenaBlock): void {
    const w = this.#exportsOrThrow('im2colInArena');
    this.#checkBlocks('im2colInArena', x, col);
    if (!(Number.isInteger(oh0) && Number.isInteger(oh1) && 0 <= oh0 && oh0 < oh1 && oh1 <= g.Ho)) {
      throw new RangeError(`im2colInArena: bad rows [${oh0}, ${oh1}) of ${g.Ho}`);
    }
    const rows = g.C * g.HH * g.WW * (oh1 - oh0) * g.Wo;
    if (rows > col.length) throw new RangeError(`im2colInArena: col needs ${rows} elements, has ${col.length}`);
    checkOperand('x', x.length, 0, 1, g.C * g.H * g.W, g.C * g.H * g.W);
    (x.dtype === 'float32' ? w.im2colF32 : w.im2colF64)(
      x.byteOffset, col.byteOffset, g.C, g.H, g.W, g.HH, g.WW, g.Ho, g.Wo,
      g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, oh0, oh1,
    );
  }

  /** dst[dstOffset + r] += Σ_{j < cols} src[srcOffset + r·ld + j] for r < rows, in double (dst is a float64 block). */
  rowSumsInArena(
    src: ArenaBlock, srcOffset: number, rows: number, cols: number, ld: number, dst: ArenaBlock<'float64'>, dstOffset = 0,
  ): void {
    const w = this.#exportsOrThrow('rowSumsInArena');
    this.#checkBlocks('rowSumsInArena', src, src);
    this.#checkFloat64('rowSumsInArena', 'dst', dst);
    checkOperand('src', src.length - srcOffset, srcOffset, rows, cols, ld);
    checkOperand('dst', dst.length - dstOffset, dstOffset, 1, rows, rows);
    const size = src.dtype === 'float32' ? 4 : 8;
    (src.dtype === 'float32' ? w.rowSumsF32 : w.rowSumsF64)(
      src.byteOffset + srcOffset * size, rows, cols, ld, dst.byteOffset + dstOffset * 8,
    );
  }

  /**
   * Depthwise forward on `channels` input channels: out (channels·Fg × Ho × Wo) = b + x ⋆ w, with x
   * (channels × H × W), w at wOffset (channels·Fg × HH × WW) and b at bOffset. out must not overlap the inputs.
   * Uses the engine's workspace (idle between GEMM calls) for a zero-padded plane when it fits.
   */
  depthwiseForwardInArena(
    g: DepthwiseGeometry, channels: number, x: ArenaBlock, w: ArenaBlock, wOffset: number, b: ArenaBlock, bOffset: number,
    out: ArenaBlock,
  ): void {
    const ex = this.#exportsOrThrow('depthwiseForwardInArena');
    this.#checkDepthwise('depthwiseForwardInArena', g, channels, x, w, wOffset);
    this.#checkBlocks('depthwiseForwardInArena', b, out);
    this.#checkBlocks('depthwiseForwardInArena', x, out);
    const F = channels * g.Fg;
    checkOperand('b', b.length - bOffset, bOffset, 1, F, F);
    checkOperand('out', out.length, 0, 1, F * g.Ho * g.Wo, F * g.Ho * g.Wo);
    const size = x.dtype === 'float32' ? 4 : 8;
    (x.dtype === 'float32' ? ex.depthwiseForwardF32 : ex.depthwiseForwardF64)(
      x.byteOffset, w.byteOffset + wOffset * size, b.byteOffset + bOffset * size, out.byteOffset, channels,
      g.H, g.W, g.Fg, g.HH, g.WW, g.Ho, g.Wo, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW,
      this.#engine.workAddress, this.#engine.workBytes,
    );
  }

  /**
   * Depthwise backward on `channels` input channels: dx (channels × H × W) is overwritten with the
   * gradient from dout (channels·Fg × Ho × Wo), and dwAcc (float64, at dwOffset, channels·Fg × HH × WW)
   * accumulates x ⋆ dout. dx must not overlap the inputs.
   */
  depthwiseBackwardInArena(
    g: DepthwiseGeometry, channels: number, x: ArenaBlock, w: ArenaBlock, wOffset: number, dout: ArenaBlock,
    dx: ArenaBlock, dwAcc: ArenaBlock<'float64'>, dwOffset: number,
  ): void {
    const ex = this.#exportsOrThrow('depthwiseBackwardInArena');
    this.#checkDepthwise('depthwiseBackwardInArena', g, channels, x, w, wOffset);
    this.#checkBlocks('depthwiseBackwardInArena', dout, dx);
    this.#checkBlocks('depthwiseBackwardInArena', x, dx);
    this.#checkFloat64('depthwiseBackwardInArena', 'dwAcc', dwAcc);
    const F = channels * g.Fg;
    checkOperand('dout', dout.length, 0, 1, F * g.Ho * g.Wo, F * g.Ho * g.Wo);
    checkOperand('dx', dx.length, 0, 1, channels * g.H * g.W, channels * g.H * g.W);
    checkOperand('dwAcc', dwAcc.length - dwOffset, dwOffset, 1, F * g.HH * g.WW, F * g.HH * g.WW);
    const size = x.dtype === 'float32' ? 4 : 8;
    (x.dtype === 'float32' ? ex.depthwiseBackwardF32 : ex.depthwiseBackwardF64)(
      x.byteOffset, w.byteOffset + wOffset * size, dout.byteOffset, dx.byteOffset, dwAcc.byteOffset + dwOffset * 8,
      channels, g.H, g.W, g.Fg, g.HH, g.WW, g.Ho, g.Wo, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW,
      this.#engine.workAddress, this.#engine.workBytes,
    );
  }

  /** dst[dstOffset + p·dstPlane + r·dstLd + j] = src[srcOffset + p·srcPlane + r·srcLd + j], p < planes, r < rows, j < cols. */
  copyPlanesInArena(
    src: ArenaBlock, srcOffset: number, srcPlane: number, srcLd: number,
    dst: ArenaBlock, dstOffset: number, dstPlane: number, dstLd: number,
    planes: number, rows: number, cols: number,
  ): void {
    const w = this.#exportsOrThrow('copyPlanesInArena');
    this.#checkBlocks('copyPlanesInArena', src, dst);
    checkPlanes('src', src.length, srcOffset, planes, srcPlane, rows, srcLd, cols);
    checkPlanes('dst', dst.length, dstOffset, planes, dstPlane, rows, dstLd, cols);
    if (planes === 0 || rows === 0 || cols === 0) return;
    const size = src.dtype === 'float32' ? 4 : 8;
    w.copyPlanes(
      src.byteOffset + srcOffset * size, dst.byteOffset + dstOffset * size, planes, rows, cols * size,
      srcPlane * size, srcLd * size, dstPlane * size, dstLd * size,
    );
  }

  /** V (16 × C × Tb) = Bᵀ d B of the band's 4×4 patches of xpad (C planes; see WinogradBand). */
  winogradInputInArena(xpad: ArenaBlock, V: ArenaBlock, C: number, ld: number, plane: number, band: WinogradBand): void {
    const w = this.#exportsOrThrow('winogradInputInArena');
    this.#checkBlocks('winogradInputInArena', xpad, V);
    checkTiles('V', V.length, band, C, xpad.dtype);
    checkPlanes('xpad', xpad.length, 0, C, plane, 2 * band.tr1 + 2, ld, 2 * band.tW + 2);
    (xpad.dtype === 'float32' ? w.winoInputF32 : w.winoInputF64)(
      xpad.byteOffset, V.byteOffset, C, ld, plane, band.tr0, band.tr1, band.tW, band.xs,
    );
  }

  /** dxpad (C planes) += B dV Bᵀ at the band's patches: the adjoint of winogradInputInArena. */
  winogradDxInArena(dV: ArenaBlock, dxpad: ArenaBlock, C: number, ld: number, plane: number, band: WinogradBand): void {
    const w = this.#exportsOrThrow('winogradDxInArena');
    this.#checkBlocks('winogradDxInArena', dV, dxpad);
    checkTiles('dV', dV.length, band, C, dV.dtype);
    checkPlanes('dxpad', dxpad.length, 0, C, plane, 2 * band.tr1 + 2, ld, 2 * band.tW + 2);
    (dV.dtype === 'float32' ? w.winoDxF32 : w.winoDxF64)(
      dV.byteOffset, dxpad.byteOffset, C, ld, plane, band.tr0, band.tr1, band.tW, band.xs,
    );
  }

  /** opad (F planes, rows 2·tW wide) = Aᵀ M A + b of the band's tiles; M is 16 × F × Tb. */
  winogradOutputInArena(M: ArenaBlock, b: ArenaBlock, opad: ArenaBlock, F: number, plane: number, band: WinogradBand): void {
    const w = this.#exportsOrThrow('winogradOutputInArena');
    this.#checkBlocks('winogradOutputInArena', M, opad);
    this.#checkBlocks('winogradOutputInArena', b, opad);
    checkTiles('M', M.length, band, F, M.dtype);
    checkOperand('b', b.length, 0, 1, F, F);
    checkPlanes('opad', opad.length, 0, F, plane, 2 * band.tr1, 2 * band.tW, 2 * band.tW);
    (M.dtype === 'float32' ? w.winoOutputF32 : w.winoOutputF64)(
      M.byteOffset, b.byteOffset, opad.byteOffset, F, plane, band.tr0, band.tr1, band.tW, band.xs,
    );
  }

  /** D (16 × F × Tb) = A dY Aᵀ of the band's 2×2 tiles of dpad: the adjoint of winogradOutputInArena. */
  winogradDoutInArena(dpad: ArenaBlock, D: ArenaBlock, F: number, plane: number, band: WinogradBand): void {
    const w = this.#exportsOrThrow('winogradDoutInArena');
    this.#checkBlocks('winogradDoutInArena', dpad, D);
    checkTiles('D', D.length, band, F, dpad.dtype);
    checkPlanes('dpad', dpad.length, 0, F, plane, 2 * band.tr1, 2 * band.tW, 2 * band.tW);
    (dpad.dtype === 'float32' ? w.winoDoutF32 : w.winoDoutF64)(
      dpad.byteOffset, D.byteOffset, F, plane, band.tr0, band.tr1, band.tW, band.xs,
    );
  }

  /**
   * Winograd F(4×4, 3×3), float32 only (assembly/winograd4.ts): V (36 × C × Tb) = Bᵀ d B of the band's
   * 6×6 patches of xpad (C planes of rows ld ≥ 4·tW + 4 wide; rows up to 4·tr1 + 2 are read).
   */
  winograd4InputInArena(xpad: ArenaBlock, V: ArenaBlock, C: number, ld: number, plane: number, band: Winograd4Band): void {
    const w = this.#exportsOrThrow('winograd4InputInArena');
    this.#checkWino4('winograd4InputInArena', xpad, V);
    checkTiles4('V', V.length, band, C);
    checkPlanes('xpad', xpad.length, 0, C, plane, 4 * band.tr1 + 2, ld, 4 * band.tW + 4);
    w.wino4InputF32(
      xpad.byteOffset, V.byteOffset + 4 * band.tOffset, C, ld, plane, band.tr0, band.tr1, band.tW, band.xs, band.ldt,
      this.#engine.workAddress,
    );
  }

  /** dxpad (C planes) += B dV Bᵀ at the band's patches: the adjoint of winograd4InputInArena. */
  winograd4DxInArena(dV: ArenaBlock, dxpad: ArenaBlock, C: number, ld: number, plane: number, band: Winograd4Band): void {
    const w = this.#exportsOrThrow('winograd4DxInArena');
    this.#checkWino4('winograd4DxInArena', dV, dxpad);
    checkTiles4('dV', dV.length, band, C);
    checkPlanes('dxpad', dxpad.length, 0, C, plane, 4 * band.tr1 + 2, ld, 4 * band.tW + 4);
    w.wino4DxF32(
      dV.byteOffset + 4 * band.tOffset, dxpad.byteOffset, C, ld, plane, band.tr0, band.tr1, band.tW, band.xs, band.ldt,
      this.#engine.workAddress,
    );
  }

  /**
   * opad (images × F planes, rows 4·tW wide) = Aᵀ M A + b of the band's tiles of `images` images side by
   * side in M's rows from tile tOffset (image n's F planes from plane n·F); M is 36 × F × ldt.
   */
  winograd4OutputInArena(
    M: ArenaBlock, b: ArenaBlock, opad: ArenaBlock, F: number, plane: number, band: Winograd4Band, images = 1,
  ): void {
    const w = this.#exportsOrThrow('winograd4OutputInArena');
    this.#checkWino4('winograd4OutputInArena', M, opad);
    this.#checkWino4('winograd4OutputInArena', b, opad);
    checkTiles4('M', M.length, band, F, images);
    checkOperand('b', b.length, 0, 1, F, F);
    checkPlanes('opad', opad.length, 0, images * F, plane, 4 * band.tr1, 4 * band.tW, 4 * band.tW);
    w.wino4OutputF32(
      M.byteOffset + 4 * band.tOffset, b.byteOffset, opad.byteOffset, F, plane, band.tr0, band.tr1, band.tW, band.xs, band.ldt,
      this.#engine.workAddress, images,
    );
  }

  /** D (36 × F × ldt) = A dY Aᵀ of the band's 4×4 tiles of dpad: the adjoint of winograd4OutputInArena. */
  winograd4DoutInArena(dpad: ArenaBlock, D: ArenaBlock, F: number, plane: number, band: Winograd4Band, images = 1): void {
    const w = this.#exportsOrThrow('winograd4DoutInArena');
    this.#checkWino4('winograd4DoutInArena', dpad, D);
    checkTiles4('D', D.length, band, F, images);
    checkPlanes('dpad', dpad.length, 0, images * F, plane, 4 * band.tr1, 4 * band.tW, 4 * band.tW);
    w.wino4DoutF32(
      dpad.byteOffset, D.byteOffset + 4 * band.tOffset, F, plane, band.tr0, band.tr1, band.tW, band.xs, band.ldt,
      this.#engine.workAddress, images,
    );
  }

  /**
   * Strided Winograd (3×3, stride 2; assembly/winograd-s2.ts), either dtype: V (25 × C × ldt) = Bᵀ d B of
   * the band's 5×5 patches of xpad (C planes of rows ld ≥ 4·tW + 4 wide, patches 4 apart; rows up to
   * 4·tr1 are read), at tile tOffset of each channel row.
   */
  winogradS2InputInArena(xpad: ArenaBlock, V: ArenaBlock, C: number, ld: number, plane: number, band: Winograd4Band): void {
    const w = this.#exportsOrThrow('winogradS2InputInArena');
    this.#checkBlocks('winogradS2InputInArena', xpad, V);
    checkTilesS2('V', V.length, band, C, V.dtype);
    checkPlanes('xpad', xpad.length, 0, C, plane, 4 * band.tr1 + 1, ld, 4 * band.tW + 4);
    const size = V.dtype === 'float32' ? 4 : 8;
    (V.dtype === 'float32' ? w.winoS2InputF32 : w.winoS2InputF64)(
      xpad.byteOffset, V.byteOffset + size * band.tOffset, C, ld, plane, band.tr0, band.tr1, band.tW, band.xs, band.ldt,
    );
  }

  /** dxpad (C planes) += B dV Bᵀ at the band's patches: the adjoint of winogradS2InputInArena. */
  winogradS2DxInArena(dV: ArenaBlock, dxpad: ArenaBlock, C: number, ld: number, plane: number, band: Winograd4Band): void {
    const w = this.#exportsOrThrow('winogradS2DxInArena');
    this.#checkBlocks('winogradS2DxInArena', dV, dxpad);
    checkTilesS2('dV', dV.length, band, C, dV.dtype);
    checkPlanes('dxpad', dxpad.length, 0, C, plane, 4 * band.tr1 + 1, ld, 4 * band.tW + 4);
    const size = dV.dtype === 'float32' ? 4 : 8;
    (dV.dtype === 'float32' ? w.winoS2DxF32 : w.winoS2DxF64)(
      dV.byteOffset + size * band.tOffset, dxpad.byteOffset, C, ld, plane, band.tr0, band.tr1, band.tW, band.xs, band.ldt,
    );
  }

  /**
   * opad (images × F planes, rows 2·tW wide) = Aᵀ M A + b of the band's tiles of `images` images laid side
   * by side in M's rows from tile tOffset (image n's F planes from plane n·F); M is 25 × F × ldt.
   */
  winogradS2OutputInArena(
    M: ArenaBlock, b: ArenaBlock, opad: ArenaBlock, F: number, plane: number, band: Winograd4Band, images = 1,
  ): void {
    const w = this.#exportsOrThrow('winogradS2OutputInArena');
    this.#checkBlocks('winogradS2OutputInArena', M, opad);
    this.#checkBlocks('winogradS2OutputInArena', b, opad);
    checkTilesS2('M', M.length, band, F, M.dtype, images);
    checkOperand('b', b.length, 0, 1, F, F);
    checkPlanes('opad', opad.length, 0, images * F, plane, 2 * band.tr1, 2 * band.tW, 2 * band.tW);
    const size = M.dtype === 'float32' ? 4 : 8;
    (M.dtype === 'float32' ? w.winoS2OutputF32 : w.winoS2OutputF64)(
      M.byteOffset + size * band.tOffset, b.byteOffset, opad.byteOffset, F, plane, band.tr0, band.tr1, band.tW, band.xs, band.ldt,
      images,
    );
  }

  /** D (25 × F × ldt) = A dY Aᵀ of the band's 2×2 tiles of dpad: the adjoint of winogradS2OutputInArena. */
  winogradS2DoutInArena(dpad: ArenaBlock, D: ArenaBlock, F: number, plane: number, band: Winograd4Band, images = 1): void {
    const w = this.#exportsOrThrow('winogradS2DoutInArena');
    this.#checkBlocks('winogradS2DoutInArena', dpad, D);
    checkTilesS2('D', D.length, band, F, D.dtype, images);
    checkPlanes('dpad', dpad.length, 0, images * F, plane, 2 * band.tr1, 2 * band.tW, 2 * band.tW);
    const size = D.dtype === 'float32' ? 4 : 8;
    (D.dtype === 'float32' ? w.winoS2DoutF32 : w.winoS2DoutF64)(
      dpad.byteOffset, D.byteOffset + size * band.tOffset, F, plane, band.tr0, band.tr1, band.tW, band.xs, band.ldt, images,
    );
  }

  /** U (16 matrices of F·C) = G g Gᵀ of the strided scheme for every 3×3 filter g of w (F·C·9 elements). */
  winogradS2FilterInArena(w: ArenaBlock, U: ArenaBlock, F: number, C: number): void {
    const ex = this.#exportsOrThrow('winogradS2FilterInArena');
    this.#checkBlocks('winogradS2FilterInArena', w, U);
    const FC = F * C;
    checkOperand('w', w.length, 0, 1, 9 * FC, 9 * FC);
    checkOperand('U', U.length, 0, 16, FC, FC);
    (w.dtype === 'float32' ? ex.winoS2FilterF32 : ex.winoS2FilterF64)(w.byteOffset, U.byteOffset, FC);
  }

  /** dw (F·C·9) = Gᵀ dU G: the adjoint of winogradS2FilterInArena. */
  winogradS2FilterAdjointInArena(dU: ArenaBlock, dw: ArenaBlock, F: number, C: number): void {
    const ex = this.#exportsOrThrow('winogradS2FilterAdjointInArena');
    this.#checkBlocks('winogradS2FilterAdjointInArena', dU, dw);
    const FC = F * C;
    checkOperand('dU', dU.length, 0, 16, FC, FC);
    checkOperand('dw', dw.length, 0, 1, 9 * FC, 9 * FC);
    (dU.dtype === 'float32' ? ex.winoS2FilterAdjointF32 : ex.winoS2FilterAdjointF64)(dU.byteOffset, dw.byteOffset, FC);
  }

  #checkWino4(what: string, a: ArenaBlock, b: ArenaBlock): void {
    this.#checkBlocks(what, a, b);
    if (a.dtype !== 'float32') throw new TypeError(`${what}: float32 only`);
  }

  #checkDepthwise(what: string, g: DepthwiseGeometry, channels: number, x: ArenaBlock, w: ArenaBlock, wOffset: number): void {
    this.#checkBlocks(what, x, w);
    if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`${what}: bad channel count ${channels}`);
    checkOperand('x', x.length, 0, 1, channels * g.H * g.W, channels * g.H * g.W);
    const wLen = channels * g.Fg * g.HH * g.WW;
    checkOperand('w', w.length - wOffset, wOffset, 1, wLen, wLen);
  }

  #checkFloat64(what: string, name: string, blk: ArenaBlock): void {
    this.#checkBlocks(what, blk, blk);
    if (blk.dtype !== 'float64') throw new TypeError(`${what}: ${name} must be float64`);
  }

  #exportsOrThrow(what: string): ConvExports {
    if (this.#ex === undefined) throw new Error(`${what}: needs a wasm backend (this one is ${this.#engine.backend})`);
    return this.#ex;
  }

  #checkBlocks(what: string, a: ArenaBlock, b: ArenaBlock): void {
    for (const blk of [a, b]) {
      if (blk.arena !== this.#engine.arena) throw new Error(`${what}: block from another arena`);
      if (!blk.alive) throw new Error(`${what}: block used after its scope ended`);
    }
    if (a.dtype !== b.dtype) throw new TypeError(`${what}: blocks must share a dtype`);
  }
}

/** Validates a Winograd band and that its 16 tile matrices of `channels` rows fit in `length` elements. */
function checkTiles(name: string, length: number, band: WinogradBand, channels: number, dtype: Dtype): void {
  const { tr0, tr1, tW, xs } = band;
  const lanes = dtype === 'float32' ? 4 : 2;
  if (!(Number.isInteger(tr0) && Number.isInteger(tr1) && 0 <= tr0 && tr0 < tr1)) throw new RangeError(`winograd: bad tile rows [${tr0}, ${tr1})`);
  if (!(Number.isInteger(tW) && tW > 0 && tW % lanes === 0)) throw new RangeError(`winograd: tW ${tW} must be a positive multiple of ${lanes}`);
  if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`winograd: bad channel count ${channels}`);
  const size = channels * (tr1 - tr0) * tW;
  if (!Number.isInteger(xs) || xs < size) throw new RangeError(`winograd: xs ${xs} < ${size} (channels × tiles)`);
  if (15 * xs + size > length) throw new RangeError(`${name} needs ${15 * xs + size} elements, has ${length}`);
}

/**
 * Validates an F(4×4) band: the tiles of `images` images side by side within the channel rows of ldt, and
 * 36 matrices of `channels` rows in `length` elements.
 */
function checkTiles4(name: string, length: number, band: Winograd4Band, channels: number, images = 1): void {
  const { tr0, tr1, tW, xs, ldt, tOffset } = band;
  if (!(Number.isInteger(tr0) && Number.isInteger(tr1) && 0 <= tr0 && tr0 < tr1)) throw new RangeError(`winograd4: bad tile rows [${tr0}, ${tr1})`);
  if (!(Number.isInteger(tW) && tW > 0 && tW % 4 === 0)) throw new RangeError(`winograd4: tW ${tW} must be a positive multiple of 4`);
  if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`winograd4: bad channel count ${channels}`);
  if (!Number.isInteger(images) || images < 1) throw new RangeError(`winograd4: bad image count ${images}`);
  const end = tOffset + images * (tr1 - tr0) * tW;
  if (!(Number.isInteger(tOffset) && tOffset >= 0 && Number.isInteger(ldt) && end <= ldt)) {
    throw new RangeError(`winograd4: tiles [${tOffset}, ${end}) do not fit rows of ${ldt}`);
  }
  if (!Number.isInteger(xs) || xs < channels * ldt) throw new RangeError(`winograd4: xs ${xs} < ${channels * ldt} (channels × ldt)`);
  if (35 * xs + channels * ldt > length) throw new RangeError(`${name} needs ${35 * xs + channels * ldt} elements, has ${length}`);
}

/**
 * Validates a strided-Winograd band: the tiles of `images` images side by side within channel rows of ldt,
 * 25 matrices of `channels` rows in `length` elements.
 */
function checkTilesS2(name: string, length: number, band: Winograd4Band, channels: number, dtype: Dtype, images = 1): void {
  const { tr0, tr1, tW, xs, ldt, tOffset } = band;
  const lanes = dtype === 'float32' ? 4 : 2;
  if (!(Number.isInteger(tr0) && Number.isInteger(tr1) && 0 <= tr0 && tr0 < tr1)) throw new RangeError(`winograd-s2: bad tile rows [${tr0}, ${tr1})`);
  if (!(Number.isInteger(tW) && tW > 0 && tW % lanes === 0)) throw new RangeError(`winograd-s2: tW ${tW} must be a positive multiple of ${lanes}`);
  if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`winograd-s2: bad channel count ${channels}`);
  if (!Number.isInteger(images) || images < 1) throw new RangeError(`winograd-s2: bad image count ${images}`);
  const end = tOffset + images * (tr1 - tr0) * tW;
  if (!(Number.isInteger(tOffset) && tOffset >= 0 && Number.isInteger(ldt) && end <= ldt)) {
    throw new RangeError(`winograd-s2: tiles [${tOffset}, ${end}) do not fit rows of ${ldt}`);
  }
  if (!Number.isInteger(xs) || xs < channels * ldt) throw new RangeError(`winograd-s2: xs ${xs} < ${channels * ldt} (channels × ldt)`);
  if (24 * xs + channels * ldt > length) throw new RangeError(`${name} needs ${24 * xs + channels * ldt} elements, has ${length}`);
}
