// User-facing data errors. Anything wrong with the user's input (a missing folder, no
// images, a bad option) is a DataError with one line that names the path and says what
// was expected, so the CLI can print it as is and exit with code 2 instead of a stack.

export class DataError extends Error {
  /** The file or folder the message is about, when there is one. */
  readonly path: string | undefined;

  constructor(message: string, path?: string) {
    super(message);
    this.name = 'DataError';
    this.path = path;
  }
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/**
 * Progressive and style-based generators double the resolution block by block, so only
 * powers of two can be built; say so before a model is half constructed.
 */
export function checkResolution(resolution: number, what = 'resolution', min = 4, max = 4096): number {
  if (!isPowerOfTwo(resolution) || resolution < min || resolution > max) {
    const near = isFinite(resolution) && resolution > 0 ? 2 ** Math.round(Math.log2(resolution)) : min;
    const hint = near >= min && near <= max && near !== resolution ? ` (nearest: ${near})` : '';
    throw new DataError(`${what} ${resolution} is not supported: expected a power of two from ${min} to ${max}${hint}`);
  }
  return resolution;
}

/** The message of anything thrown, on one line. */
export function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0].trim();
}
