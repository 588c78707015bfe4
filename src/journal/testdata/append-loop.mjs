// Crash-test child: appends numbered batches to the compiled journal until killed, resuming after its cursor.
import process from 'node:process';
import { pathToFileURL } from 'node:url';

const [journalJs, dir, sizeArg] = process.argv.slice(2);
const { Journal } = await import(pathToFileURL(journalJs).href);
const size = Number(sizeArg);
const journal = Journal.open({ dir });
const start = Number(journal.getCursor('acme/siem') ?? '0') + 1;
process.stdout.write(`start ${start}\n`);
for (let b = start; ; b++) {
  const events = [];
  for (let i = 0; i < size; i++) {
    events.push({
      id: `b${b}-e${i}`,
      stream: 'siem',
      account: 'acme',
      time: new Date().toISOString(),
      doc: { batch: b, index: i, pad: 'x'.repeat(300) },
    });
  }
  journal.append('acme/siem', { events, cursor: String(b) });
  // Pipes are synchronous on Linux, so the parent sees each line before the next batch starts.
  process.stdout.write(`${b}\n`);
}
