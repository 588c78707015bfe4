import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * One temporary folder per `npm test` run. Every test, the receivers the tests start (rsyslogd, Kafka, OpenSearch)
 * and the collector processes they spawn create their folders under `os.tmpdir()`, which reads `TMPDIR`; the forked
 * test workers inherit it. The whole folder is removed when the run ends, so repeated runs do not fill /tmp with
 * journals, certificates and broker logs. `MC_KEEP_TEST_TMP=1` keeps it (its path is printed) to look at after a
 * failure.
 */
export default function setup(): () => void {
  const previous = process.env['TMPDIR'];
  const root = mkdtempSync(join(tmpdir(), 'mc-test-run-'));
  process.env['TMPDIR'] = root;
  return () => {
    if (previous === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = previous;
    if (process.env['MC_KEEP_TEST_TMP'] === '1') {
      process.stdout.write(`test files kept in ${root}\n`);
      return;
    }
    rmSync(root, { recursive: true, force: true });
  };
}
