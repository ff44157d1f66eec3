/** The model cannot be exported as asked: the message names the op or input at fault. */
export class ExportError extends Error {
  override name = 'ExportError';
}
