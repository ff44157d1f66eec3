// `ganforge eval` on tiny DCGAN, StyleGAN and pix2pix runs with the stand-in feature
// network (no downloaded file): JSON results, reproducible, the dataset's features cached,
// a folder of images measured against itself at FID 0, and one-line mistakes.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { writeImage } from '../src/data/index.js';
import { cli, tempDir } from './train-helpers.js';
import { fromRoot } from './helpers.js';

const NET = fromRoot('test/fixtures/metrics/features_net.pt');
const root = tempDir('gf-eval-');
// A port nobody listens on: the download of the Inception file fails as it does offline.
const env = { GANFORGE_CACHE: join(root, 'cache'), GANFORGE_INCEPTION_URL: '' };
const runs = { dcgan: join(root, 'dcgan'), stylegan: join(root, 'stylegan'), pix2pix: join(root, 'pix2pix') };

function ok(r: ReturnType<typeof cli>): ReturnType<typeof cli> {
  assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr}`);
  return r;
}

function mistake(r: ReturnType<typeof cli>, pattern: RegExp): void {
  assert.equal(r.status, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.match(lines[lines.length - 1], pattern);
  assert.match(lines[lines.length - 1], /^ganforge: /);
}

before(async () => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  env.GANFORGE_INCEPTION_URL = `http://127.0.0.1:${(server.address() as { port: number }).port}/inception.pt`;
  await new Promise((r) => server.close(r));
  ok(cli(['train', '--model', 'dcgan', '--data', 'shapes', '--resolution', '16', '--nz', '8', '--ngf', '8', '--ndf', '8', '--batch', '8', '--kimg', '0.016', '--workers', '0', '--n_samples', '4', '--out', runs.dcgan]));
  ok(cli(['train', '--model', 'stylegan', '--data', 'shapes', '--resolution', '16', '--lod_initial_resolution', '16', '--minibatch_base', '8', '--minibatch_dict', '',
    '--kimg', '0.016', '--latent_size', '16', '--dlatent_size', '16', '--mapping_layers', '2', '--fmap_base', '64', '--fmap_max', '16', '--workers', '0', '--n_samples', '4', '--out', runs.stylegan]));
  ok(cli(['train', '--model', 'pix2pix', '--data', 'shapes-pairs', '--netG', 'unet_32', '--crop_size', '32', '--ngf', '4', '--ndf', '4', '--n_epochs', '1', '--n_epochs_decay', '0',
    '--max_dataset_size', '4', '--workers', '0', '--out', runs.pix2pix]));
});

function evalJson(args: string[]): Record<string, number> {
  const r = ok(cli(['eval', ...args, '--features', NET, '--json'], env));
  const out = JSON.parse(r.stdout) as Record<string, number>;
  for (const [k, v] of Object.entries(out)) assert.ok(Number.isFinite(v), `${k} = ${v}`);
  return out;
}

test('eval --run on a DCGAN run: FID, KID, IS by name, reproducible, the real features cached', () => {
  const first = cli(['eval', '--run', runs.dcgan, '--metrics', 'fid64,kid64,is64', '--features', NET, '--json', '--batch', '16'], env);
  ok(first);
  const a = JSON.parse(first.stdout) as Record<string, number>;
  assert.deepEqual(Object.keys(a), ['fid64', 'kid64', 'is64_mean', 'is64_std']);
  assert.ok(a.fid64 > 0 && a.is64_mean >= 1);
  assert.match(first.stderr, /measuring fid64, kid64, is64 of .*dcgan .* against \d+ real images of shapes/);
  assert.match(first.stderr, /generated: \[#+\] 64\/64 images +[\d.]+ images\/s +ETA/);
  // Again: the same numbers (latents and KID's subsets are seeded), the dataset's features from the cache.
  const second = ok(cli(['eval', '--run', runs.dcgan, '--metrics', 'fid64,kid64,is64', '--features', NET, '--json', '--batch', '16'], env));
  assert.deepEqual(JSON.parse(second.stdout), a);
  assert.match(second.stderr, /real images: 64 images' features from the cache/);
  // Another seed draws other images.
  assert.notEqual(evalJson(['--run', runs.dcgan, '--metrics', 'fid64', '--seed', '5']).fid64, a.fid64);
  // The plain output names each result.
  const plain = ok(cli(['eval', '--run', runs.dcgan, '--metrics', 'fid64', '--features', NET], env));
  assert.match(plain.stdout, /^fid64 +\d+\.\d{4}\n/);
});

test('eval --run on a StyleGAN run, untruncated by default and with --truncation_psi', () => {
  const full = evalJson(['--run', runs.stylegan, '--metrics', 'fid48,pr48_3', '--vgg', NET]);
  assert.deepEqual(Object.keys(full), ['fid48', 'pr48_3_precision', 'pr48_3_recall']);
  for (const k of ['pr48_3_precision', 'pr48_3_recall']) assert.ok(full[k] >= 0 && full[k] <= 1);
  const truncated = evalJson(['--run', runs.stylegan, '--metrics', 'fid48', '--truncation_psi', '0.3']);
  assert.notEqual(truncated.fid48, full.fid48);
  assert.equal(evalJson(['--run', runs.stylegan, '--metrics', 'fid48', '--truncation_psi', '1']).fid48, full.fid48);
});

test('eval --run on a pix2pix run translates the test split and measures against its targets', () => {
  const r = ok(cli(['eval', '--run', runs.pix2pix, '--metrics', 'fid40,kid40', '--features', NET, '--json'], env));
  assert.match(r.stderr, /translations of \d+ test inputs of shapes-pairs against \d+ real targets/);
  const out = JSON.parse(r.stdout) as Record<string, number>;
  assert.ok(out.fid40 > 0 && Number.isFinite(out.kid40));
});

test('eval --images: a folder against itself has FID 0; against other images it does not', async () => {
  const a = join(root, 'imagesA');
  const b = join(root, 'imagesB');
  for (let i = 0; i < 12; i++) {
    await writeImage({ data: new Uint8Array(16 * 16 * 3).map((_, j) => (i * 37 + j * 11) % 256), width: 16, height: 16, channels: 3 }, join(a, `${i}.png`));
    await writeImage({ data: new Uint8Array(16 * 16 * 3).map((_, j) => (i * 13 + j * 3) % 200), width: 16, height: 16, channels: 3 }, join(b, `${i}.png`));
  }
  const self = evalJson(['--images', a, '--data', a, '--metrics', 'fid12']);
  assert.ok(Math.abs(self.fid12) < 1e-6, `FID of a folder against itself: ${self.fid12}`);
  const other = evalJson(['--images', a, '--data', b, '--metrics', 'fid12,kid12']);
  assert.ok(other.fid12 > 1e-3);
  // Counts only cap a folder: fid50k_full over 12 images measures the 12.
  assert.equal(evalJson(['--images', a, '--data', b, '--metrics', 'fid50k_full']).fid50k_full, other.fid12);
});

test('eval mistakes are one line, exit 2; a missing Inception file says where to put it', async () => {
  mistake(cli(['eval'], env), /eval needs --run DIR .* or --images DIR/);
  mistake(cli(['eval', '--run', runs.dcgan, '--metrics', 'fid10k,ppl2_wend', '--features', NET], env), /unknown metric 'ppl2_wend'/);
  mistake(cli(['eval', '--run', runs.dcgan, '--truncation_psi', '0.5', '--features', NET], env), /--truncation_psi applies to style-based models/);
  mistake(cli(['eval', '--images', root], env), /--images needs --data PATH/);
  mistake(cli(['eval', '--run', runs.dcgan, '--features', join(root, 'nope.pt')], env), /--features .*nope\.pt: no such file/);
  const r = cli(['eval', '--run', runs.dcgan, '--metrics', 'fid16'], env);
  mistake(r, /inception-2015-12-05\.pt is needed and could not be downloaded from http:\/\/127\.0\.0\.1:\d+\/inception\.pt .*put it at .*inception-2015-12-05\.pt .*--inception PATH/);
  const trainOnly = join(root, 'pairs');
  await writeImage({ data: new Uint8Array(32 * 16 * 3), width: 32, height: 16, channels: 3 }, join(trainOnly, 'train', '0.png'));
  mistake(cli(['eval', '--run', runs.pix2pix, '--metrics', 'fid16', '--features', NET, '--data', trainOnly], env), /has train\/ but no test\/ pairs/);
});
