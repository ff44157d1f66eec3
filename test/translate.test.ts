// `ganforge translate`: weights straight from the reference (pytorch-CycleGAN-and-pix2pix
// @ da39a52) give the images its test.py writes; pix2pix and CycleGAN runs translate with
// the right generator; weights that do not fit name the first key that differs; outputs
// are never overwritten silently. Fixtures: test/fixtures/translate/make_fixture.py.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import * as nn from '../src/nn/index.js';
import { decodeImage, imagesToTensor, tensorToImages, writeImage, type RawImage } from '../src/data/index.js';
import { loadPthStateDict, saveSafetensors } from '../src/io/index.js';
import { defineG } from '../src/models/pix2pix.js';
import { loadGenerator, patchInstanceNormKeys } from '../src/families/translation/import.js';
import { loadRun } from '../src/families/load.js';
import { translateImages } from '../src/families/translation/networks.js';
import { fromRoot } from './helpers.js';
import { cli, tempDir } from './train-helpers.js';

const FIX = fromRoot('test/fixtures/translate');
const INPUTS = join(FIX, 'inputs');
const NAMES = ['cat', 'dog'];
const REF = ['--weights', join(FIX, 'latest_net_G_A.pth'), '--netG', 'resnet_6blocks', '--ngf', '4', '--crop_size', '32'];

function translate(args: string[]) {
  return cli(['translate', ...args]);
}

function ok(r: { status: number | null; stderr: string; stdout: string }): void {
  assert.equal(r.status, 0, `exit ${r.status}\nstderr: ${r.stderr}\nstdout: ${r.stdout}`);
}

/** The largest difference between two images of equal size, in uint8 levels. */
function maxDiff(a: RawImage, b: RawImage): number {
  assert.deepEqual([a.width, a.height, a.channels], [b.width, b.height, b.channels]);
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(a.data[i] - b.data[i]));
  return m;
}

async function assertMatchesReference(outDir: string, expectedDir: string, names = NAMES): Promise<void> {
  for (const n of names) {
    const got = await decodeImage(join(outDir, `${n}.png`));
    const want = await decodeImage(join(FIX, expectedDir, `${n}.png`));
    assert.ok(maxDiff(got, want) <= 1, `${n}: differs from the reference's output by ${maxDiff(got, want)} levels`);
    // Not trivially equal to the input: the generator did something.
    assert.ok(maxDiff(got, await decodeImage(join(INPUTS, `${n}.png`))) > 20);
  }
}

test('the reference generator (.pth saved by PyTorch) gives the reference test.py outputs within 1 level', async () => {
  const out = tempDir('gf-translate-');
  const r = translate([...REF, '--input', INPUTS, '--out', out]);
  ok(r);
  assert.deepEqual(readdirSync(out).sort(), ['cat.png', 'dog.png']);
  assert.match(r.stdout, /^translated 2 images in [\d.]+ s \([\d.]+ images\/s\) into /);
  assert.match(r.stderr, /2\/2 images/);
  await assertMatchesReference(out, 'expected');
});

test('its .safetensors copy, one image as --input, and --eval give the same outputs', async () => {
  const dir = tempDir('gf-translate-');
  const st = join(dir, 'G_A.safetensors');
  torch.scope(() => saveSafetensors(st, loadPthStateDict(join(FIX, 'latest_net_G_A.pth'))));
  const out = join(dir, 'out');
  ok(translate(['--weights', st, '--netG', 'resnet_6blocks', '--ngf', '4', '--no_dropout', '--crop_size', '32', '--input', INPUTS, '--out', out]));
  await assertMatchesReference(out, 'expected');
  const one = join(dir, 'one');
  ok(translate([...REF, '--input', join(INPUTS, 'dog.png'), '--out', one, '--eval', '--batch', '2']));
  assert.deepEqual(readdirSync(one), ['dog.png']);
  await assertMatchesReference(one, 'expected', ['dog']);
});

test('an old checkpoint (legacy layout, InstanceNorm running stats) loads as the reference loads it', async () => {
  const out = tempDir('gf-translate-');
  ok(translate(['--weights', join(FIX, 'legacy_net_G.pth'), '--netG', 'resnet_6blocks', '--ngf', '2', '--crop_size', '32', '--input', INPUTS, '--out', out]));
  await assertMatchesReference(out, 'expected_legacy');
});

test('patchInstanceNormKeys drops stale statistics of InstanceNorm layers only', () => {
  torch.scope(() => {
    const inst = defineG({ inputNc: 3, outputNc: 3, ngf: 2, netG: 'resnet_6blocks', norm: 'instance' });
    const batch = defineG({ inputNc: 3, outputNc: 3, ngf: 2, netG: 'resnet_6blocks', norm: 'batch' });
    const stale = { 'model.2.running_mean': torch.zeros([2]), 'model.2.running_var': torch.ones([2]), 'model.2.num_batches_tracked': torch.tensor(1, { dtype: 'int64' }) };
    const sd: nn.StateDict = { ...inst.stateDict(), ...stale };
    assert.deepEqual(patchInstanceNormKeys(inst, sd).sort(), Object.keys(stale).sort());
    assert.deepEqual(Object.keys(sd), Object.keys(inst.stateDict()));
    const bsd: nn.StateDict = { ...batch.stateDict() };
    assert.deepEqual(patchInstanceNormKeys(batch, bsd), []);
    assert.equal(Object.keys(bsd).length, Object.keys(batch.stateDict()).length);
    inst.dispose();
    batch.dispose();
  });
});

test('loadGenerator + translateImages in-process equal the reference too', async () => {
  const imgs = await Promise.all(NAMES.map((n) => decodeImage(join(INPUTS, `${n}.png`))));
  const bytes = new Uint8Array(imgs.length * 32 * 32 * 3);
  imgs.forEach((im, i) => bytes.set(im.data, i * im.data.length));
  const G = loadGenerator(join(FIX, 'latest_net_G_A.pth'), { netG: 'resnet_6blocks', norm: 'instance', ngf: 4, input_nc: 3, output_nc: 3, no_dropout: true });
  const out = torch.scope(() => tensorToImages(torch.noGrad(() => translateImages(G, imagesToTensor(bytes, 2, 32, 32, 3)))));
  G.dispose();
  for (let i = 0; i < NAMES.length; i++) {
    const want = await decodeImage(join(FIX, 'expected', `${NAMES[i]}.png`));
    const got: RawImage = { data: out.data.subarray(i * 3072, (i + 1) * 3072), width: 32, height: 32, channels: 3 };
    assert.ok(maxDiff(got, want) <= 1);
  }
});

test('--dataset_mode aligned takes the half --direction names', async () => {
  const dir = tempDir('gf-translate-');
  const [cat, dog] = await Promise.all(NAMES.map((n) => decodeImage(join(INPUTS, `${n}.png`))));
  const pair = new Uint8Array(64 * 32 * 3);
  for (let y = 0; y < 32; y++) {
    pair.set(cat.data.subarray(y * 96, (y + 1) * 96), y * 192);
    pair.set(dog.data.subarray(y * 96, (y + 1) * 96), y * 192 + 96);
  }
  mkdirSync(join(dir, 'pairs'));
  await writeImage({ data: pair, width: 64, height: 32, channels: 3 }, join(dir, 'pairs', 'cat.png'));
  ok(translate([...REF, '--dataset_mode', 'aligned', '--input', join(dir, 'pairs'), '--out', join(dir, 'a')]));
  await assertMatchesReference(join(dir, 'a'), 'expected', ['cat']);
  // BtoA reads the right half (the dog) for the file named cat.png.
  ok(translate([...REF, '--dataset_mode', 'aligned', '--direction', 'BtoA', '--input', join(dir, 'pairs', 'cat.png'), '--out', join(dir, 'b')]));
  const got = await decodeImage(join(dir, 'b', 'cat.png'));
  assert.ok(maxDiff(got, await decodeImage(join(FIX, 'expected', 'dog.png'))) <= 1);
  // Without aligned data, --direction means nothing for imported weights.
  const r = translate([...REF, '--direction', 'BtoA', '--input', INPUTS, '--out', join(dir, 'c')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--direction with --weights applies to --dataset_mode aligned/);
});

// ---------------------------------------------------------------------------------
// Runs trained here: a tiny pix2pix and a tiny CycleGAN (about a second each).
// ---------------------------------------------------------------------------------

const runs = { p2p: '', cg: '' };
const TRAIN = ['--crop_size', '32', '--ngf', '4', '--ndf', '4', '--n_epochs', '1', '--n_epochs_decay', '0', '--max_dataset_size', '4', '--workers', '0'];

before(() => {
  const root = tempDir('gf-translate-runs-');
  runs.p2p = join(root, 'p2p');
  runs.cg = join(root, 'cg');
  ok(cli(['train', '--model', 'pix2pix', '--data', 'shapes-pairs', '--netG', 'unet_32', ...TRAIN, '--out', runs.p2p]));
  ok(cli(['train', '--model', 'cyclegan', '--data', 'shapes-domains', '--netG', 'resnet_6blocks', ...TRAIN, '--out', runs.cg]));
});

/** What the run's generator `net` gives for the fixture inputs, in-process, as translate runs it. */
async function inProcess(run: string, net: string, evalMode: boolean, seed = 0): Promise<RawImage[]> {
  const imgs = await Promise.all(NAMES.map((n) => decodeImage(join(INPUTS, `${n}.png`))));
  const loaded = loadRun(run);
  const G = loaded.recipe.networks()[net] as nn.Module & nn.UnaryModule;
  torch.manualSeed(seed);
  const outs = imgs.map((im) => torch.scope(() => {
    const y = torch.noGrad(() => translateImages(G, imagesToTensor(im.data, 1, 32, 32, 3), evalMode));
    const b = tensorToImages(y);
    return { data: b.data, width: 32, height: 32, channels: b.channels } as RawImage;
  }));
  for (const m of Object.values(loaded.recipe.networks())) m.dispose();
  loaded.recipe.dispose?.();
  return outs;
}

test('translate --run on a pix2pix run uses G, as translateImages does (training mode, seeded dropout)', async () => {
  const dir = tempDir('gf-translate-');
  const r = translate(['--run', runs.p2p, '--input', INPUTS, '--out', dir]);
  ok(r);
  assert.match(r.stderr, /with G of /);
  const want = await inProcess(runs.p2p, 'G', false);
  for (let i = 0; i < NAMES.length; i++) {
    const got = await decodeImage(join(dir, `${NAMES[i]}.png`));
    assert.deepEqual([got.width, got.height], [32, 32]);
    assert.ok(maxDiff(got, want[i]) <= 1, `${NAMES[i]}: ${maxDiff(got, want[i])} levels from translateImages`);
  }
  // A pix2pix G only goes the way it was trained.
  const back = translate(['--run', runs.p2p, '--direction', 'BtoA', '--input', INPUTS, '--out', join(dir, 'x')]);
  assert.equal(back.status, 2);
  assert.match(back.stderr, /pix2pix run trained --direction AtoB/);
  // The run fixes the architecture.
  const arch = translate(['--run', runs.p2p, '--netG', 'unet_64', '--input', INPUTS, '--out', join(dir, 'y')]);
  assert.equal(arch.status, 2);
  assert.match(arch.stderr, /--netG applies to --weights/);
});

test('translate --run on a CycleGAN run: AtoB uses G_A, BtoA uses G_B', async () => {
  const dir = tempDir('gf-translate-');
  ok(translate(['--run', runs.cg, '--input', INPUTS, '--out', join(dir, 'ab'), '--eval']));
  const r = translate(['--run', runs.cg, '--direction', 'BtoA', '--input', INPUTS, '--out', join(dir, 'ba'), '--eval']);
  ok(r);
  assert.match(r.stderr, /with G_B of /);
  const [wantA, wantB] = [await inProcess(runs.cg, 'G_A', true), await inProcess(runs.cg, 'G_B', true)];
  for (let i = 0; i < NAMES.length; i++) {
    const ab = await decodeImage(join(dir, 'ab', `${NAMES[i]}.png`));
    const ba = await decodeImage(join(dir, 'ba', `${NAMES[i]}.png`));
    assert.ok(maxDiff(ab, wantA[i]) <= 1);
    assert.ok(maxDiff(ba, wantB[i]) <= 1);
    assert.ok(maxDiff(ab, ba) > 0, 'G_A and G_B gave the same image');
  }
});

test('sample --run on a translation run points to translate', () => {
  const r = cli(['sample', '--run', runs.cg]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /cyclegan run.*ganforge translate --run/);
});

test('weights that do not fit: one line naming the first mismatched key and both shapes', () => {
  const out = join(tempDir('gf-translate-'), 'never');
  const ngf = translate([...REF.filter((_, i) => i < 4 || i > 5), '--ngf', '8', '--input', INPUTS, '--out', out]);
  assert.equal(ngf.status, 2);
  assert.equal(ngf.stderr.trim().split('\n').length, 1, ngf.stderr);
  assert.match(ngf.stderr, /model\.1\.weight is \[8, 3, 7, 7\] in the model but \[4, 3, 7, 7\] in the file/);
  assert.match(ngf.stderr, /does --netG\/--norm\/--ngf/);
  assert.throws(() => statSync(out), /ENOENT/);
});

test('a wrong --netG or --norm names the first key the file lacks; an explicit dropout mismatch says which fits', () => {
  const out = join(tempDir('gf-translate-'), 'never');

  const net = translate(['--weights', join(FIX, 'latest_net_G_A.pth'), '--netG', 'resnet_9blocks', '--ngf', '4', '--input', INPUTS, '--out', out]);
  assert.equal(net.status, 2);
  assert.match(net.stderr, /--netG resnet_9blocks.*the model has model\.16\.conv_block\.1\.weight \[16, 16, 3, 3\], the file has no such key/);

  const norm = translate(['--weights', join(FIX, 'latest_net_G_A.pth'), '--netG', 'resnet_6blocks', '--ngf', '4', '--norm', 'batch', '--input', INPUTS, '--out', out]);
  assert.equal(norm.status, 2);
  assert.match(norm.stderr, /the model has model\.2\.weight \[4\], the file has no such key/);

  // CycleGAN weights trained with --no_dropout, loaded with dropout asked for explicitly.
  const drop = translate([...REF, '--no_dropout', 'false', '--input', INPUTS, '--out', out]);
  assert.equal(drop.status, 2);
  assert.match(drop.stderr, /conv_block\.6\.weight.*they fit with --no_dropout/);

  const missing = translate(['--weights', join(FIX, 'nope.pth'), '--input', INPUTS, '--out', out]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /weights file .*nope\.pth does not exist/);
  assert.throws(() => statSync(out), /ENOENT/);
});

test('usage mistakes about the generator and paths are one line and exit 2', () => {
  const dir = tempDir('gf-translate-');
  const cases: [string[], RegExp][] = [
    [['--input', INPUTS, '--out', dir], /needs --run DIR .* or --weights FILE/],
    [['--run', runs.cg, ...REF.slice(0, 2), '--input', INPUTS, '--out', dir], /--run or --weights, not both/],
    [[...REF, '--out', dir], /needs --input PATH/],
    [[...REF, '--input', INPUTS], /needs --out DIR/],
  ];
  check(cases);
});

test('usage mistakes about inputs are one line and exit 2', () => {
  const dir = tempDir('gf-translate-');
  check([
    [[...REF, '--input', join(dir, 'missing'), '--out', dir], /no such file or folder/],
    [[...REF, '--input', dir, '--out', join(dir, 'o')], /empty|no .*images/],
    [[...REF, '--batch', '4', '--input', INPUTS, '--out', dir], /--batch above 1 needs --eval/],
  ]);
});

function check(cases: [string[], RegExp][]): void {
  for (const [args, re] of cases) {
    const r = translate(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, re);
  }
}

test('existing outputs are refused before any work, and overwritten with --force (images only)', () => {
  const out = tempDir('gf-translate-');
  writeFileSync(join(out, 'dog.png'), 'mine');
  // --force overwrites translations, never a file that is not an image
  const notImage = translate([...REF, '--input', INPUTS, '--out', out, '--force']);
  assert.equal(notImage.status, 2);
  assert.match(notImage.stderr, /dog\.png is a file of 4 bytes that is not an image/);
  assert.deepEqual(readdirSync(out), ['dog.png']);
  writeFileSync(join(out, 'dog.png'), '');
  const r = translate([...REF, '--input', INPUTS, '--out', out]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /dog\.png exists: use --force/);
  assert.deepEqual(readdirSync(out), ['dog.png'], 'nothing may be written when refusing');
  assert.equal(readFileSync(join(out, 'dog.png'), 'utf8'), '');
  ok(translate([...REF, '--input', INPUTS, '--out', out, '--force']));
  assert.deepEqual(readdirSync(out).sort(), ['cat.png', 'dog.png']);
  assert.ok(readFileSync(join(out, 'dog.png')).length > 0);
});

test('--help lists every option, and ganforge --help lists translate', () => {
  const r = translate(['--help']);
  ok(r);
  for (const o of ['run', 'checkpoint', 'weights', 'key', 'netG', 'norm', 'ngf', 'input_nc', 'output_nc', 'no_dropout', 'input', 'out', 'direction',
    'dataset_mode', 'preprocess', 'load_size', 'crop_size', 'eval', 'batch', 'seed', 'device', 'workers', 'force']) {
    assert.match(r.stdout, new RegExp(`--${o}\\b`), `--${o} missing from translate --help`);
  }
  assert.match(r.stdout, /resnet_9blocks/);
  assert.match(cli(['--help']).stdout, /^\s+translate\s+/m);
});
