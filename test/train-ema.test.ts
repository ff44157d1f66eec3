// The generator average of short runs: StyleGAN2's EMA ramp-up, on by default for every
// kimg family.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RECIPES } from '../src/families/registry.js';
import { fullSchema } from '../src/train/options.js';
import { parseArgs } from '../src/config/options.js';
import { emaBeta } from '../src/train/ema.js';

test('EMA ramp-up: the half-life is at most rampup × images seen, and nothing changes once it is longer', () => {
  const o = { emaKimg: 10, beta: null, startKimg: 0, rampup: 0.05 };
  const off = { ...o, rampup: null };
  assert.equal(emaBeta(o, 64, 0), 0, 'at the start the average is G');
  assert.equal(emaBeta(o, 64, 20_000), 0.5 ** (64 / 1000), 'after 20 kimg: a 1-kimg half-life');
  assert.equal(emaBeta(o, 64, 100_000), 0.5 ** (64 / 5000));
  // Past ema_kimg / rampup = 200 kimg the rule is StyleGAN2's without ramp-up, bit for bit.
  for (const seen of [200_000, 200_064, 1_000_000]) assert.equal(emaBeta(o, 64, seen), emaBeta(off, 64, seen), `${seen} images`);
  assert.ok(emaBeta(o, 64, 199_936) < emaBeta(off, 64, 199_936));
  // 0 is off, as null is (the command line cannot say null).
  for (const seen of [0, 5_000]) assert.equal(emaBeta({ ...o, rampup: 0 }, 64, seen), emaBeta(off, 64, seen));
  // β never falls as images are seen.
  let last = 0;
  for (let seen = 0; seen <= 400_000; seen += 1_600) {
    const b = emaBeta(o, 16, seen);
    assert.ok(b >= last, `β falls at ${seen}: ${last} → ${b}`);
    last = b;
  }
  // The start still comes first: before it the average copies G.
  assert.equal(emaBeta({ ...o, startKimg: 1 }, 64, 500), 0);
});

test('EMA ramp-up with a fixed β (PGGAN\'s 0.999 per step): β is capped by the ramp-up\'s half-life, and is exactly β past it', () => {
  const o = { emaKimg: 10, beta: 0.999, startKimg: 0, rampup: 0.05 };
  assert.equal(emaBeta({ ...o, rampup: null }, 16, 0), 0.999, 'off: the original rule from the first step');
  assert.equal(emaBeta({ ...o, rampup: 0 }, 16, 0), 0.999);
  assert.equal(emaBeta(o, 16, 0), 0, 'on: the first step copies G');
  assert.equal(emaBeta(o, 16, 40_000), 0.5 ** (16 / 2000), '40 kimg: a 2000-image half-life, not 0.999\'s 11 k');
  // 0.999 per step of 16 images is a half-life of 16·ln 2 / −ln 0.999 = 11 085 images: reached at 221.7 kimg.
  const crossover = (16 * Math.log(2)) / -Math.log(0.999) / 0.05;
  assert.ok(Math.abs(crossover - 221_697) < 1);
  assert.ok(emaBeta(o, 16, crossover - 100) < 0.999);
  for (const seen of [crossover + 100, 1_000_000]) assert.equal(emaBeta(o, 16, seen), 0.999, `${seen}: the fixed β itself`);
});

test('--ema_rampup is 0.05 for every kimg family; --ema_rampup 0 turns it off and --help says so', () => {
  for (const name of ['dcgan', 'pggan', 'stylegan']) {
    const schema = fullSchema(RECIPES[name]);
    assert.equal(schema.ema_rampup.default, 0.05, name);
    assert.match(schema.ema_rampup.help, /0 = off/);
    assert.equal(parseArgs(['--ema_rampup', '0'], schema, 'train').options.ema_rampup, 0);
    assert.equal(parseArgs([], schema, 'train').options.ema_rampup, 0.05);
  }
  assert.equal(fullSchema(RECIPES.pggan).ema_beta.default, 0.999, 'PGGAN keeps its fixed β (capped by the ramp-up)');
});
