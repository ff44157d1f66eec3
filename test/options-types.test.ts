// Option types come from the schema: a recipe reads `o.lambda_L1` as a number, a choice
// option as the union of its choices, a null default as nullable, and a misspelt name
// does not compile (the @ts-expect-error lines below fail the build if it ever does).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineSchema, optionsView, parseArgs, validateOptions, type OptionsOf } from '../src/config/options.js';
import { RECIPES } from '../src/families/registry.js';
import { fullSchema, trainerOptions } from '../src/train/options.js';

const SCHEMA = defineSchema({
  lambda_L1: { type: 'float', default: 100, help: 'L1 weight', min: 0 },
  gan_mode: { type: 'string', default: 'lsgan', choices: ['vanilla', 'lsgan'], help: 'loss' },
  no_dropout: { type: 'bool', default: false, help: 'no dropout' },
  lr_D: { type: 'float', default: null, help: 'D rate' },
});

test('parsed options carry the schema\'s types', () => {
  const { options: o } = parseArgs(['--lambda_L1', '10', '--gan_mode', 'vanilla', '--no_dropout'], SCHEMA, 'test');
  const weight: number = o.lambda_L1;
  const mode: 'vanilla' | 'lsgan' = o.gan_mode;
  const flag: boolean = o.no_dropout;
  const rate: number | null = o.lr_D;
  assert.deepEqual([weight, mode, flag, rate], [10, 'vanilla', true, null]);
  // @ts-expect-error: a misspelt option does not compile
  assert.equal(o.lambda_l1, undefined);
  // @ts-expect-error: a nullable option is not a plain number
  const notNull: number = o.lr_D;
  assert.equal(notNull, null);
  // @ts-expect-error: a choice option holds only its choices
  const other: 'hinge' = o.gan_mode;
  assert.equal(other, 'vanilla');
});

test('validateOptions and optionsView give typed views; a view of options that lack a group is refused', () => {
  const o: OptionsOf<typeof SCHEMA> = validateOptions({ lambda_L1: 5 }, SCHEMA, 'config.json');
  assert.deepEqual(o, { lambda_L1: 5, gan_mode: 'lsgan', no_dropout: false, lr_D: null });
  assert.throws(() => optionsView(SCHEMA, { lambda_L1: 1 }), /internal: option --gan_mode is missing/);
  assert.throws(() => validateOptions({ lambda_L1: [1] }, SCHEMA, 'config.json'), /--lambda_L1 expects a number, got \[1\]/);
});

test('the trainer\'s option groups follow the family: progressive families have no --batch or --lr_policy, translation ones count epochs', () => {
  const defaults = (model: string) => Object.fromEntries(Object.entries(fullSchema(RECIPES[model])).map(([k, s]) => [k, s.default]));
  const pggan = trainerOptions(RECIPES.pggan, defaults('pggan'));
  assert.equal(pggan.batch, null);
  assert.equal(pggan.lr, null);
  assert.ok(!pggan.length.byEpoch && pggan.length.kimg.ema_beta === 0.999);
  const cyclegan = trainerOptions(RECIPES.cyclegan, defaults('cyclegan'));
  assert.equal(cyclegan.batch?.batch, 1);
  assert.ok(cyclegan.length.byEpoch && cyclegan.length.lr.n_epochs === 100 && cyclegan.length.epochs.save_epoch_freq === 5);
  assert.ok(!('batch' in fullSchema(RECIPES.stylegan)) && !('lr_policy' in fullSchema(RECIPES.stylegan)));
});
