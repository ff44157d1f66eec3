// Small generated image folders for the data tests: made in a temporary directory by
// each test, tiny, and with pixel patterns that let a test see which crop and flip an
// image went through.
import sharp from 'sharp';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** A fresh temporary folder; remove it with `removeDir`. */
export function tempDir(prefix = 'ganforge-data-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * A w x h RGB image whose red channel is x * xs, green is y * ys (so a crop's position
 * and a flip can be read back from its pixels) and blue is `blue`.
 */
export function coordImage(w: number, h: number, blue = 0, xs = 1, ys = 1): Uint8Array {
  const d = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      d[o] = (x * xs) & 255;
      d[o + 1] = (y * ys) & 255;
      d[o + 2] = blue;
    }
  }
  return d;
}

export function solidImage(w: number, h: number, rgb: [number, number, number]): Uint8Array {
  const d = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) d.set(rgb, i * 3);
  return d;
}

/** Writes raw HWC bytes as an image file (format from the extension; png is lossless). */
export async function writeRaw(file: string, data: Uint8Array, w: number, h: number, channels: 1 | 3 | 4 = 3): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const img = sharp(data, { raw: { width: w, height: h, channels } });
  const ext = path.extname(file).toLowerCase();
  if (ext === '.png') await (channels === 1 ? img.toColourspace('b-w') : img).png().toFile(file);
  else if (ext === '.jpg' || ext === '.jpeg') await img.jpeg({ quality: 100 }).toFile(file);
  else if (ext === '.webp') await img.webp({ lossless: true }).toFile(file);
  else throw new Error(`writeRaw: unknown extension ${ext}`);
}

export async function writeSolid(file: string, w: number, h: number, rgb: [number, number, number]): Promise<void> {
  await writeRaw(file, solidImage(w, h, rgb), w, h);
}

/** A pix2pix pair: A (left) and B (right) share the coordinate pattern; blue is 0 in A, 200 in B. */
export async function writePair(file: string, w: number, h: number): Promise<void> {
  const ab = new Uint8Array(2 * w * h * 3);
  const A = coordImage(w, h, 0);
  const B = coordImage(w, h, 200);
  for (let y = 0; y < h; y++) {
    ab.set(A.subarray(y * w * 3, (y + 1) * w * 3), y * 2 * w * 3);
    ab.set(B.subarray(y * w * 3, (y + 1) * w * 3), (y * 2 * w + w) * 3);
  }
  await writeRaw(file, ab, 2 * w, h);
}

/** A PNG cut off half way: the header is fine, the pixels are not. */
export async function writeTruncatedPng(file: string, w = 16, h = 16): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const bytes = await sharp(coordImage(w, h, 7), { raw: { width: w, height: h, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
  fs.writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
}

/** A folder of n small solid-colour PNGs, colour i*10, named img000.png ... */
export async function writeFolder(dir: string, n: number, size = 8): Promise<string[]> {
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const f = path.join(dir, `img${String(i).padStart(3, '0')}.png`);
    await writeSolid(f, size, size, [(i * 10) % 256, 50, 100]);
    files.push(f);
  }
  return files;
}

/** Pixel (x, y) of an HWC byte image. */
export function pixel(data: Uint8Array, w: number, c: number, x: number, y: number): number[] {
  const o = (y * w + x) * c;
  return Array.from(data.subarray(o, o + c));
}

/** Collects warnings instead of printing them. */
export function warnings(): { list: string[]; on: (m: string) => void } {
  const list: string[] = [];
  return { list, on: (m) => list.push(m) };
}
