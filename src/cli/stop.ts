// How the command line stops a long job: the first Ctrl-C (or SIGTERM) asks the job to
// finish its step and checkpoint (it sees an aborted signal); a second leaves at once,
// which is safe because checkpoints are written whole and then renamed into place.
// Only the CLI installs signal handlers: the library takes an AbortSignal.
import { releaseHeldLocks } from '../run/lock.js';

/** Runs `job` with SIGINT/SIGTERM turned into a stop request; `say` prints one line. */
export async function withStopSignals<T>(job: (signal: AbortSignal) => Promise<T>, say: (line: string) => void): Promise<T> {
  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stop.signal.aborted) {
      say(`${sig} again: exiting now; the last complete checkpoint is kept`);
      // `finally` blocks do not run on exit: give the run folder back here.
      releaseHeldLocks();
      process.exit(130);
    }
    say(`${sig}: finishing this step and writing a checkpoint (press Ctrl-C again to exit at once)`);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await job(stop.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
