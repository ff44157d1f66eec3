// Seeded normal latents that the playground page and the tests draw alike (not torch's
// generator, which the browser does not have): mulberry32 for uniforms, Box–Muller for
// normals, rounded to float32. Plain JavaScript, loaded by the page and by Node.

/** A uniform generator in [0, 1) from a 32-bit seed (mulberry32). */
export function uniforms(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` standard normal numbers from `seed`, as float32 (Box–Muller, both values used). */
export function normals(seed, count) {
  const u = uniforms(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - u()));
    const th = 2 * Math.PI * u();
    out[i] = r * Math.cos(th);
    if (i + 1 < count) out[i + 1] = r * Math.sin(th);
  }
  return out;
}

/** The latent of image `index` of the grid drawn from `seed`: its own stream, so a cell never depends on the grid's size. */
export function latent(seed, index, size) {
  return normals((Math.imul(seed >>> 0, 0x9e3779b1) + index) >>> 0, size);
}

/** Images in [-1, 1], NCHW float32 (C = 1 or 3), to RGBA bytes of image `n`, as the engine rounds: (x + 1)·127.5, clamped. */
export function toRGBA(data, n, channels, height, width) {
  const plane = height * width;
  const out = new Uint8ClampedArray(plane * 4);
  const base = n * channels * plane;
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      const v = data[base + (channels === 1 ? 0 : c) * plane + p];
      out[p * 4 + c] = Math.round(Math.min(255, Math.max(0, (v + 1) * 127.5)));
    }
    out[p * 4 + 3] = 255;
  }
  return out;
}
