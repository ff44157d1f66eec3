// Progressive-growing schedules (PGGAN TrainingSchedule, StyleGAN training_schedule):
// values worked out by hand from the originals' formula, and a bit-exact comparison with a
// Python restatement of it (fixture: test/fixtures/schedule/make_schedule_fixtures.py),
// including the main loop's bookkeeping (optimizer resets, ticks).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  pgganSchedule, styleganSchedule, pgganDefaults, styleganDefaults, pgganLoopDefaults, growthPlan,
  lodFraction, fadeInAlpha, lodResolution, shouldResetOptimizer, resolutionLog2,
  PGGAN_DEFAULTS, STYLEGAN_DEFAULTS, PGGAN_SCHEDULE_DEFAULTS, STYLEGAN_SCHEDULE_DEFAULTS, STYLEGAN_LOOP_DEFAULTS,
  PGGAN_TICK_KIMG_DICT, STYLEGAN_TICK_KIMG_DICT,
  type ScheduleOptions, type SchedulePoint,
} from '../src/families/progressive/schedule.js';
import { loadJson } from './helpers.js';

interface FixturePoint {
  nimg: number | null;
  kimg: number;
  lod: number;
  resolution: number;
  minibatch: number;
  gLrate: number;
  dLrate: number;
  tickKimg: number;
}
interface FixtureCase {
  name: string;
  family: 'pggan' | 'stylegan';
  options: ScheduleOptions;
  points: FixturePoint[];
}
interface LoopRow {
  nimg: number;
  lod: number;
  minibatch: number;
  reset: boolean;
  tickEnd: boolean;
}
interface FixtureLoop {
  name: string;
  options: ScheduleOptions;
  totalKimg: number;
  minibatchRepeats: number;
  dRepeats: number;
  resumeKimg?: number;
  trace: LoopRow[];
}

const fx = loadJson<{ cases: FixtureCase[]; loops: FixtureLoop[] }>('test/fixtures/schedule/schedule.json');

/** Only the fields the originals compute. */
function core(p: SchedulePoint): Omit<FixturePoint, 'nimg'> {
  return { kimg: p.kimg, lod: p.lod, resolution: p.resolution, minibatch: p.minibatch, gLrate: p.gLrate, dLrate: p.dLrate, tickKimg: p.tickKimg };
}

function expectPoint(p: SchedulePoint, want: Partial<SchedulePoint>): void {
  for (const [k, v] of Object.entries(want)) {
    assert.equal(p[k as keyof SchedulePoint], v, `${k} at kimg ${p.kimg}`);
  }
}

describe('PGGAN schedule by hand (config.py: celebahq, preset-v2-1gpu, fp32, 1024)', () => {
  const o = pgganDefaults(1024);
  const at = (nimg: number) => pgganSchedule(nimg / 1000, o);

  test('initial 4x4 phase', () => {
    expectPoint(at(0), { phase: 0, lod: 8, resolution: 4, minibatch: 128, gLrate: 0.001, dLrate: 0.001, tickKimg: 160, lrateRampup: 1 });
    expectPoint(at(300_000), { lod: 8, resolution: 4 });
  });

  test('exactly at the end of the stable part the fade has not started', () => {
    expectPoint(at(600_000), { phase: 0, phaseKimg: 600, lod: 8, resolution: 4, minibatch: 128, tickKimg: 160 });
  });

  test('one image into the fade: already the new resolution', () => {
    const p = at(600_001);
    assert.equal(p.lod, 8 - 0.001 / 600);
    expectPoint(p, { resolution: 8, minibatch: 128, tickKimg: 140 });
    assert.ok(lodFraction(p.lod) > 0.99);
  });

  test('middle of the first fade', () => {
    const p = at(900_000);
    expectPoint(p, { phase: 0, lod: 7.5, resolution: 8 });
    assert.equal(lodFraction(p.lod), 0.5);
    assert.equal(fadeInAlpha(p.lod), 0.5);
  });

  test('exactly at a phase boundary the lod is integral again', () => {
    expectPoint(at(1_200_000), { phase: 1, phaseKimg: 0, lod: 7, resolution: 8 });
    expectPoint(at(1_800_000), { phase: 1, lod: 7, resolution: 8 });
    expectPoint(at(2_100_000), { phase: 1, lod: 6.5, resolution: 16, minibatch: 128, tickKimg: 120 });
    expectPoint(at(2_400_000), { phase: 2, lod: 6, resolution: 16 });
  });

  test('higher resolutions: minibatch overrides, fp32 caps and the 1024 learning rate', () => {
    expectPoint(at(6_300_000), { phase: 5, lod: 3, resolution: 128, minibatch: 16, tickKimg: 60 });
    expectPoint(at(6_900_000), { lod: 2.5, resolution: 256, minibatch: 8, tickKimg: 40, gLrate: 0.001 });
    expectPoint(at(8_100_000), { phase: 6, lod: 1.5, resolution: 512, minibatch: 4, tickKimg: 20, gLrate: 0.001 });
    expectPoint(at(9_300_000), { phase: 7, lod: 0.5, resolution: 1024, minibatch: 4, gLrate: 0.0015, dLrate: 0.0015, tickKimg: 10 });
  });

  test('after the last fade the lod stays at 0', () => {
    expectPoint(at(9_600_000), { phase: 8, lod: 0, resolution: 1024 });
    expectPoint(at(10_500_000), { phase: 8, lod: 0, resolution: 1024 }); // would be −0.5 unclamped
    expectPoint(at(12_000_000), { phase: 10, lod: 0, resolution: 1024, minibatch: 4 });
  });

  test('-nogrowing: both durations 0 and the initial resolution final', () => {
    const flat = { ...o, lodInitialResolution: 1024, lodTrainingKimg: 0, lodTransitionKimg: 0 };
    for (const k of [0, 1, 5000, 10000]) expectPoint(pgganSchedule(k, flat), { phase: 0, lod: 0, resolution: 1024 });
  });

  test('-BENCHMARK: an empty tick dict falls back to tick_kimg_base', () => {
    expectPoint(pgganSchedule(1, { ...o, tickKimgBase: 1, tickKimgDict: {} }), { tickKimg: 1 });
  });

  test('refuses a learning-rate ramp-up', () => {
    assert.throws(() => pgganSchedule(0, { ...o, lrateRampupKimg: 100 }), /ramp-up/);
    assert.doesNotThrow(() => pgganSchedule(0, { ...o, lrateRampupKimg: 0 }));
  });
});

describe('StyleGAN schedule by hand (train.py: ffhq, 8gpu, 1024)', () => {
  const o = styleganDefaults(1024);
  const at = (kimg: number) => styleganSchedule(kimg, o);

  test('starts at 8x8 with full learning rates (no ramp-up shipped)', () => {
    expectPoint(at(0), { lod: 7, resolution: 8, minibatch: 256, gLrate: 0.001, dLrate: 0.001, tickKimg: 140, lrateRampup: 1 });
    expectPoint(at(600), { lod: 7, resolution: 8 });
    expectPoint(at(900), { lod: 6.5, resolution: 16, minibatch: 128, tickKimg: 120 });
  });

  test('per-resolution learning rates and StyleGAN tick lengths', () => {
    expectPoint(at(6600), { phase: 5, lod: 2, resolution: 256, minibatch: 32, gLrate: 0.002, dLrate: 0.002, tickKimg: 40 });
    expectPoint(at(6900), { lod: 1.5, resolution: 512, minibatch: 32, gLrate: 0.003, tickKimg: 30 });
    expectPoint(at(8100), { lod: 0.5, resolution: 1024, gLrate: 0.003, tickKimg: 20 });
    expectPoint(at(8400), { phase: 7, lod: 0, resolution: 1024 });
    expectPoint(at(25000), { lod: 0, resolution: 1024, minibatch: 32 });
  });

  test('learning-rate ramp-up', () => {
    const r = { ...styleganDefaults(1024, '1gpu'), lrateRampupKimg: 1000 };
    expectPoint(styleganSchedule(0, r), { gLrate: 0, dLrate: 0, lrateRampup: 0, minibatch: 128 });
    expectPoint(styleganSchedule(250, r), { gLrate: 0.00025, dLrate: 0.00025, lrateRampup: 0.25 });
    expectPoint(styleganSchedule(1000, r), { gLrate: 0.001, lrateRampup: 1 });
    expectPoint(styleganSchedule(7000, r), { resolution: 512, gLrate: 0.003, lrateRampup: 1, minibatch: 4 });
  });

  test('minibatch rounding to the GPU count and per-GPU caps', () => {
    const g = { ...o, numGpus: 3, minibatchDict: { 8: 20 }, maxMinibatchPerGpu: { 16: 3 }, minibatchBase: 10 };
    expectPoint(styleganSchedule(0, g), { resolution: 8, minibatch: 18 });
    expectPoint(styleganSchedule(1500, g), { resolution: 16, minibatch: 9 });
    expectPoint(styleganSchedule(2700, g), { resolution: 32, minibatch: 9 });
    assert.throws(() => styleganSchedule(0, { ...g, minibatchDict: { 8: 2 } }), /minibatch/);
  });
});

describe('helpers', () => {
  test('lod → resolution, fraction, alpha', () => {
    assert.equal(lodResolution(0, 256), 256);
    assert.equal(lodResolution(0.25, 256), 256);
    assert.equal(lodResolution(1, 256), 128);
    assert.equal(lodResolution(6, 256), 4);
    assert.equal(lodFraction(3), 0);
    assert.equal(fadeInAlpha(3), 1);
    assert.equal(lodFraction(2.25), 0.25);
    assert.equal(fadeInAlpha(2.25), 0.75);
    assert.equal(resolutionLog2(1024), 10);
    assert.throws(() => resolutionLog2(96), /power of two/);
    assert.throws(() => pgganSchedule(-1, pgganDefaults(256)), /kimg/);
    assert.throws(() => styleganSchedule(Number.NaN, styleganDefaults(256)), /kimg/);
  });

  test('optimizer resets: at the start, when a fade starts and when it ends', () => {
    assert.equal(shouldResetOptimizer(null, 8), true);
    assert.equal(shouldResetOptimizer(-1, 8), true);
    assert.equal(shouldResetOptimizer(8, 8), false);
    assert.equal(shouldResetOptimizer(8, 7.99), true); // fade starts: floor changes
    assert.equal(shouldResetOptimizer(7.99, 7.5), false);
    assert.equal(shouldResetOptimizer(7.5, 7), true); // fade ends: ceil changes
    assert.equal(shouldResetOptimizer(0, 0), false);
  });

  test('growth plan', () => {
    assert.deepEqual(growthPlan(styleganDefaults(64)), [
      { resolution: 8, fadeStartKimg: null, stableKimg: 0 },
      { resolution: 16, fadeStartKimg: 600, stableKimg: 1200 },
      { resolution: 32, fadeStartKimg: 1800, stableKimg: 2400 },
      { resolution: 64, fadeStartKimg: 3000, stableKimg: 3600 },
    ]);
    assert.deepEqual(growthPlan({ resolution: 1024, lodInitialResolution: 1024, lodTrainingKimg: 0, lodTransitionKimg: 0 }),
      [{ resolution: 1024, fadeStartKimg: null, stableKimg: 0 }]);
    // Each stage's resolution is what the schedule says just after its fade starts and at its stable start.
    const o = pgganDefaults(256);
    for (const s of growthPlan(o).slice(1)) {
      assert.equal(pgganSchedule(s.fadeStartKimg! + 0.001, o).resolution, s.resolution);
      assert.equal(pgganSchedule(s.fadeStartKimg!, o).resolution, s.resolution / 2);
      expectPoint(pgganSchedule(s.stableKimg, o), { resolution: s.resolution, lod: Math.log2(256 / s.resolution) });
    }
  });

  test('defaults are the originals\'', () => {
    assert.equal(PGGAN_SCHEDULE_DEFAULTS.lodInitialResolution, 4);
    assert.equal(PGGAN_SCHEDULE_DEFAULTS.minibatchBase, 16);
    assert.equal(PGGAN_SCHEDULE_DEFAULTS.tickKimgBase, 160);
    assert.equal(STYLEGAN_SCHEDULE_DEFAULTS.lrateRampupKimg, 0);
    assert.deepEqual(STYLEGAN_SCHEDULE_DEFAULTS.tickKimgDict, STYLEGAN_TICK_KIMG_DICT);
    assert.equal(PGGAN_TICK_KIMG_DICT[1024], 10);
    assert.equal(STYLEGAN_TICK_KIMG_DICT[1024], 20);
    assert.equal(PGGAN_DEFAULTS.minibatchBase, 4);
    assert.deepEqual(PGGAN_DEFAULTS.gLrateDict, { 1024: 0.0015 });
    assert.deepEqual(PGGAN_DEFAULTS.maxMinibatchPerGpu, { 256: 16, 512: 8, 1024: 4 });
    assert.equal(PGGAN_DEFAULTS.lodTrainingKimg, 600);
    assert.equal(pgganDefaults(1024, 'v1-1gpu').lodTransitionKimg, 800);
    assert.equal(pgganLoopDefaults('v1-1gpu').totalKimg, 19000);
    assert.equal(pgganLoopDefaults().totalKimg, 12000);
    assert.equal(STYLEGAN_DEFAULTS.lodInitialResolution, 8);
    assert.equal(STYLEGAN_DEFAULTS.numGpus, 8);
    assert.deepEqual(STYLEGAN_DEFAULTS.gLrateDict, { 128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003 });
    assert.equal(STYLEGAN_LOOP_DEFAULTS.totalKimg, 25000);
    assert.ok(Object.isFrozen(PGGAN_DEFAULTS) && Object.isFrozen(PGGAN_DEFAULTS.minibatchDict));
    // pgganDefaults hands out fresh, mutable copies.
    const a = pgganDefaults(256);
    (a.minibatchDict as Record<number, number>)[256] = 1;
    assert.equal(pgganDefaults(256).minibatchDict[256], 8);
  });
});

describe('fixture: Python restatement of the originals, bit for bit', () => {
  for (const c of fx.cases) {
    test(`${c.name} (${c.points.length} points)`, () => {
      const fn = c.family === 'pggan' ? pgganSchedule : styleganSchedule;
      for (const p of c.points) {
        const kimg = p.nimg === null ? p.kimg : p.nimg / 1000;
        assert.equal(kimg, p.kimg, `kimg of nimg ${p.nimg}`);
        const { nimg: _n, ...want } = p;
        assert.deepEqual(core(fn(kimg, c.options)), want, `${c.name} at kimg ${p.kimg}`);
      }
    });
  }

  for (const l of fx.loops) {
    test(`main loop bookkeeping: ${l.name}`, () => {
      const rows: LoopRow[] = [];
      let nimg = Math.trunc((l.resumeKimg ?? 0) * 1000);
      let tickStart = nimg;
      let prevLod: number | null = null;
      while (nimg < l.totalKimg * 1000) {
        const s = pgganSchedule(nimg / 1000, l.options);
        const reset = shouldResetOptimizer(prevLod, s.lod);
        prevLod = s.lod;
        const start = nimg;
        nimg += l.minibatchRepeats * l.dRepeats * s.minibatch;
        const done = nimg >= l.totalKimg * 1000;
        const tickEnd = nimg >= tickStart + s.tickKimg * 1000 || done;
        if (tickEnd) tickStart = nimg;
        rows.push({ nimg: start, lod: s.lod, minibatch: s.minibatch, reset, tickEnd });
      }
      assert.deepEqual(rows, l.trace);
    });
  }
});
