// Every model family `ganforge train --model NAME` knows.
import type { RecipeDef } from './recipe.js';
import { dcgan } from './dcgan.js';

export const RECIPES: Readonly<Record<string, RecipeDef>> = { dcgan };

export function recipeNames(): string[] {
  return Object.keys(RECIPES);
}
