// Every model family `ganforge train --model NAME` knows.
import type { RecipeDef } from '../train/recipe.js';
import { dcgan } from './dcgan.js';
import { pix2pix } from './translation/pix2pix.js';
import { cyclegan } from './translation/cyclegan.js';
import { pggan } from './progressive/pggan.js';
import { stylegan } from './progressive/stylegan.js';
import { stylegan2 } from './stylegan2/stylegan2.js';
import { biggan } from './biggan.js';
import { bigganDeep } from './biggan_deep.js';

export const RECIPES: Readonly<Record<string, RecipeDef>> = { dcgan, pix2pix, cyclegan, pggan, stylegan, stylegan2, biggan, biggan_deep: bigganDeep };

export function recipeNames(): string[] {
  return Object.keys(RECIPES);
}
