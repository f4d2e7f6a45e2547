import type { FloatArray } from '../types.ts';

/** The oracle: cs231n's relu_forward, out = max(0, x) (−0 and +0 give +0). */
export function reluForwardReference<A extends FloatArray>(x: A): A {
  const out = new (x.constructor as new (n: number) => A)(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] > 0 ? x[i] : 0;
  return out;
}

/** cs231n's relu_backward: dx = dout where x > 0, else 0 (the gradient at 0 is 0). */
export function reluBackwardReference<A extends FloatArray>(x: A, dout: A): A {
  const dx = new (x.constructor as new (n: number) => A)(x.length);
  for (let i = 0; i < x.length; i++) dx[i] = x[i] > 0 ? dout[i] : 0;
  return dx;
}
