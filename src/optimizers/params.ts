import { z } from 'zod';

/** The contract's ranges (API.md, update rules), shared by the rules that take the same knob. */
export const learningRate = (fallback: number) =>
  z.number().min(0).default(fallback).meta({ description: `step size (>= 0); default ${fallback}` });

/** A decay factor in [0, 1). */
export const decay = (fallback: number, description: string) =>
  z.number().min(0).lt(1).default(fallback).meta({ description: `${description}, in [0, 1); default ${fallback}` });

export const epsilon = z.number().gt(0).default(1e-8).meta({ description: 'added to the root in the denominator (> 0); default 1e-8' });
