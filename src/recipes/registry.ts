// Every model family `ganforge train --model NAME` knows.
import type { RecipeDef } from './recipe.js';
import { dcgan } from './dcgan.js';
import { pix2pix } from './pix2pix.js';
import { cyclegan } from './cyclegan.js';
import { pggan } from './pggan.js';
import { stylegan } from './stylegan.js';

export const RECIPES: Readonly<Record<string, RecipeDef>> = { dcgan, pix2pix, cyclegan, pggan, stylegan };

export function recipeNames(): string[] {
  return Object.keys(RECIPES);
}
