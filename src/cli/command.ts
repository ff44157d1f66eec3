// The start every option-taking command shares: --help prints the command's help, the
// rest is parsed against its schema, and stray positional arguments are refused.
import { UsageError } from '../config/errors.js';
import { parseArgs, type Parsed, type Schema } from '../config/options.js';

/**
 * null when --help/-h was asked for (the help is printed: the command returns 0), else the
 * parsed options. `positionalHint` is added to the error for a positional argument.
 */
export function parseCommand<S extends Schema>(argv: readonly string[], schema: S, command: string, help: string, positionalHint = ''): Parsed<S> | null {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(help);
    return null;
  }
  const parsed = parseArgs(argv, schema, command);
  if (parsed.positional.length) throw new UsageError(`${command} takes no positional arguments, got '${parsed.positional[0]}'${positionalHint}`);
  return parsed;
}
