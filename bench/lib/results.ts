/** Every timing of one run, by implementation, case, dtype and pass; a missing timing carries a note. */
import type { Budget } from './measure.ts';
import type { Case, CaseData, Dtype, Pass } from './cases.ts';

export type Impl = 'ours' | 'http-base64' | 'http-nested' | 'torch' | 'numpy' | 'tfjs-wasm' | 'tfjs-cpu' | 'onnx';

export interface Sample {
  impl: Impl;
  caseId: string;
  dtype: Dtype;
  pass: Pass;
  ms?: number;
  reps?: number;
  /** why there is no timing (skipped, unsupported, failed) */
  note?: string;
  /** HTTP: medians of the Server-Timing parts, and the request size */
  serverTiming?: Record<string, number>;
  requestBytes?: number;
}

export class Results {
  readonly samples: Sample[] = [];
  /** implementation-wide notes, e.g. "not installed: how to install" */
  readonly implNotes = new Map<Impl, string>();
  /** lines for the environment section (versions, BLAS kernel, threads) */
  readonly info: string[] = [];

  /** A cell measured again (a later round) keeps its lowest median; a timing beats a note. */
  add(s: Sample): void {
    const i = this.samples.findIndex((o) => o.impl === s.impl && o.caseId === s.caseId && o.dtype === s.dtype && o.pass === s.pass);
    if (i < 0) this.samples.push(s);
    else if (s.ms !== undefined && (this.samples[i].ms === undefined || s.ms < this.samples[i].ms!)) this.samples[i] = s;
  }

  addInfo(line: string): void {
    if (!this.info.includes(line)) this.info.push(line);
  }

  get(impl: Impl, caseId: string, dtype: Dtype, pass: Pass): Sample | undefined {
    return this.samples.find((s) => s.impl === impl && s.caseId === caseId && s.dtype === dtype && s.pass === pass);
  }
}

/** What a peer family gets: the cases to run, their data, the timing budget. */
export interface PeerContext {
  cases: readonly Case[];
  data(c: Case, dtype: Dtype): CaseData;
  budget: Budget;
  quick: boolean;
  /** 1, 2, …: a cell that took a single over-long run in round 1 is not run again */
  round: number;
  results: Results;
  log(line: string): void;
}

export const PEERS_INSTALL = 'cd bench/peers && ONNXRUNTIME_NODE_INSTALL=skip npm install';
