// The feature network's file and the cached reference statistics: a download from a local
// HTTP server lands whole and checked or not at all; without a network one line says where
// to get the file; dataset features are cached by content and network and recomputed when
// either changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import { UsageError } from '../src/config/errors.js';
import { openDataset, writeImage } from '../src/data/index.js';
import { Detector, INCEPTION, datasetFingerprint, datasetImages, evaluateMetrics, networkFile, parseMetricList, toUint8, type RealSource } from '../src/metrics/index.js';
import { fromRoot } from './helpers.js';

const NET = fromRoot('test/fixtures/metrics/features_net.pt');
const BODY = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) % 251));
const SHA = createHash('sha256').update(BODY).digest('hex');

/** Serves BODY at /ok, half of it (Content-Length of all) at /partial; counts requests. */
async function serve(): Promise<{ server: Server; url: string; hits: () => number }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    if (req.url === '/ok') {
      res.writeHead(200, { 'content-length': BODY.length });
      res.end(BODY);
    } else if (req.url === '/partial') {
      res.writeHead(200, { 'content-length': BODY.length });
      res.write(BODY.subarray(0, 2000), () => res.destroy());
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { server, url: `http://127.0.0.1:${port}`, hits: () => hits };
}

const quiet = () => {};

test('a first use downloads the file once into the cache, checked against a pinned SHA-256', async () => {
  const { server, url, hits } = await serve();
  const cache = mkdtempSync(join(tmpdir(), 'gf-cache-'));
  try {
    const env = { GANFORGE_CACHE: cache, GANFORGE_INCEPTION_URL: `${url}/ok`, GANFORGE_INCEPTION_SHA256: SHA };
    const lines: string[] = [];
    const path = await networkFile(INCEPTION, null, env, (l) => lines.push(l));
    assert.equal(path, join(cache, INCEPTION.file));
    assert.deepEqual(readFileSync(path), BODY);
    assert.equal(hits(), 1);
    assert.match(lines.join('\n'), /downloading .* once into/);
    // Once there, it is used without asking the server again.
    assert.equal(await networkFile(INCEPTION, null, env, quiet), path);
    assert.equal(hits(), 1);
    // Without a pinned hash the file is checked against the hash its download recorded.
    const unpinned = { GANFORGE_CACHE: cache, GANFORGE_INCEPTION_URL: `${url}/ok` };
    assert.equal(await networkFile(INCEPTION, null, unpinned, quiet), path);
    appendFileSync(path, 'x');
    await assert.rejects(networkFile(INCEPTION, null, unpinned, quiet), (e: Error) => e instanceof UsageError && /SHA-256/.test(e.message) && e.message.includes(path));
  } finally {
    server.close();
    rmSync(cache, { recursive: true, force: true });
  }
});

test('a download with the wrong SHA-256, a partial one or none at all leaves nothing behind and says where to put the file', async () => {
  const { server, url } = await serve();
  const cache = mkdtempSync(join(tmpdir(), 'gf-cache-'));
  try {
    const dest = join(cache, INCEPTION.file);
    const wrong = { GANFORGE_CACHE: cache, GANFORGE_INCEPTION_URL: `${url}/ok`, GANFORGE_INCEPTION_SHA256: '0'.repeat(64) };
    await assert.rejects(networkFile(INCEPTION, null, wrong, quiet), (e: Error) => e instanceof UsageError && /SHA-256 [0-9a-f]{64}, not the expected 0{64}, and was not kept/.test(e.message));
    assert.deepEqual(readdirSync(cache), []);
    const partial = { GANFORGE_CACHE: cache, GANFORGE_INCEPTION_URL: `${url}/partial` };
    await assert.rejects(networkFile(INCEPTION, null, partial, quiet), (e: Error) => e instanceof UsageError && !e.message.includes('\n'));
    assert.deepEqual(readdirSync(cache), [], 'no partial file is kept');
    server.close();
    await new Promise((r) => setTimeout(r, 50));
    const offline = { GANFORGE_CACHE: cache, GANFORGE_INCEPTION_URL: `${url}/ok` };
    await assert.rejects(networkFile(INCEPTION, null, offline, quiet), (e: Error) => {
      assert.ok(e instanceof UsageError);
      assert.ok(!e.message.includes('\n'), e.message);
      assert.ok(e.message.includes(`${url}/ok`) && e.message.includes(dest) && e.message.includes('--inception PATH') && e.message.includes('GANFORGE_INCEPTION'), e.message);
      return true;
    });
    assert.ok(!existsSync(dest));
  } finally {
    server.close();
    rmSync(cache, { recursive: true, force: true });
  }
});

test('--inception and GANFORGE_INCEPTION name the file; a missing one is a one-line mistake', async () => {
  assert.equal(await networkFile(INCEPTION, NET, {}, quiet), NET);
  assert.equal(await networkFile(INCEPTION, null, { GANFORGE_INCEPTION: NET }, quiet), NET);
  await assert.rejects(networkFile(INCEPTION, '/nonexistent/inception.pt', {}, quiet), /--inception \/nonexistent\/inception.pt: no such file/);
  await assert.rejects(networkFile(INCEPTION, null, { GANFORGE_INCEPTION: '/nope.pt' }, quiet), /GANFORGE_INCEPTION \/nope.pt: no such file/);
  // A TorchScript file without the convention is refused by name.
  const dir = mkdtempSync(join(tmpdir(), 'gf-net-'));
  try {
    const junk = join(dir, 'junk.pt');
    writeFileSync(junk, 'not a torchscript file');
    await assert.rejects(Detector.open(junk), (e: Error) => e instanceof UsageError && e.message.startsWith(`${junk} is not a TorchScript file`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reference features are cached by dataset content and network, and recomputed when either changes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-stats-'));
  try {
    const data = join(dir, 'data');
    for (let i = 0; i < 12; i++) {
      const px = new Uint8Array(8 * 8 * 3).map((_, j) => (i * 31 + j * 5) % 256);
      await writeImage({ data: px, width: 8, height: 8, channels: 3 }, join(data, `img${String(i).padStart(2, '0')}.png`));
    }
    const open = () => openDataset(data, { resolution: 8, noFlip: true });
    const det = await Detector.open(NET);
    let reads = 0;
    const real = async (): Promise<RealSource> => {
      const ds = await open();
      return { length: ds.length, fingerprint: await datasetFingerprint(ds, 'a'), images: (n) => { reads++; return datasetImages(ds, 'a', n, 5); } };
    };
    const generated = { next: (n: number) => torch.scope(() => toUint8(torch.withSeed(n, () => torch.rand([n, 3, 8, 8]).mul(2).sub(1)))) };
    const specs = parseMetricList('fid10,kid10');
    const cache = join(dir, 'cache');
    const run = async (d: Detector) => evaluateMetrics({ specs, real: await real(), generated, inception: d, vgg: null, cacheDir: cache });
    const before = torch.liveTensors();
    const first = await run(det);
    assert.equal(reads, 1);
    assert.ok(first.fid10 > 0 && Number.isFinite(first.kid10));
    const again = await run(det);
    assert.equal(reads, 1, 'the second evaluation reads no image');
    assert.deepEqual(again, first);
    assert.equal(torch.liveTensors(), before);
    // Another image's content: the key changes.
    const fp = (await real()).fingerprint;
    await writeImage({ data: new Uint8Array(8 * 8 * 3).fill(200), width: 8, height: 8, channels: 3 }, join(data, 'img03.png'));
    assert.notEqual((await real()).fingerprint, fp);
    const changed = await run(det);
    assert.equal(reads, 2);
    assert.notEqual(changed.fid10, first.fid10);
    // Another network (other weights, so another hash) is not served the old features.
    const det2 = await Detector.open(fromRoot('test/fixtures/metrics/features_net_b.pt'));
    assert.notEqual(det2.sha256, det.sha256);
    const viaOther = await run(det2);
    assert.equal(reads, 3, 'a changed network recomputes the dataset features');
    assert.notEqual(viaOther.fid10, changed.fid10);
    det2.dispose();
    det.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
