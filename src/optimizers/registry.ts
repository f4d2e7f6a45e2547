import { adam } from './adam.ts';
import { rmsprop } from './rmsprop.ts';
import { sgd } from './sgd.ts';
import { sgdMomentum } from './sgd-momentum.ts';
import type { RuleDefinition } from './types.ts';

/** Every update rule the service offers, in the order the docs list them. */
export const RULES: readonly RuleDefinition[] = [sgd, sgdMomentum, rmsprop, adam];

const byName = new Map(RULES.map((r) => [r.name, r]));

export function findRule(name: string): RuleDefinition | undefined {
  return byName.get(name);
}
