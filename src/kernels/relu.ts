import { zerosLike, type FloatArray } from './types.ts';

/** ReLU on any shape: out = max(0, x). */
export function reluForward<A extends FloatArray>(x: A): A {
  const out = zerosLike(x, x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] > 0 ? x[i] : 0;
  return out;
}

/** dx = dout where x > 0, else 0; the gradient at exactly 0 is 0 (cs231n, PyTorch). */
export function reluBackward<A extends FloatArray>(x: A, dout: A): A {
  const dx = zerosLike(x, x.length);
  for (let i = 0; i < x.length; i++) dx[i] = x[i] > 0 ? dout[i] : 0;
  return dx;
}
