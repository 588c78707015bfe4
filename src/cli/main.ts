#!/usr/bin/env node
// The mimecast-collector command line; the only place that touches `process`.
import { Command, InvalidArgumentError } from 'commander';
import { redactText } from '../telemetry/redact.js';
import type { CommandIo } from './io.js';
import type { SimulateOptions } from './simulate.js';

function intArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

/**
 * For commands whose output is meant to be piped: a reader that stops early (`| head`) closes the pipe, and the
 * command stops quietly as other command-line tools do, instead of dying with an EPIPE stack trace.
 */
function endQuietlyWhenStdoutCloses(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    process.stderr.write(redactText(`fatal: writing to stdout: ${err.message}\n`));
    process.exit(1);
  });
}

async function main(argv: string[]): Promise<number> {
  const stop = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      process.stderr.write(`received ${sig} again: exiting now\n`);
      process.exit(130);
    }
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const io: CommandIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, signal: stop.signal };
  let exitCode = 0;

  const program = new Command()
    .name('mimecast-collector')
    .description('Collects Mimecast security logs into a SQLite journal and forwards normalized events to your SIEM.')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('run')
    .description('run the collector daemon')
    .requiredOption('-c, --config <file>', 'config file (YAML)')
    .action(async (o: { config: string }) => {
      // Each command loads only its own modules: a collector started with `run` never holds the simulator's.
      const { runOnDaemonThread } = await import('./daemon-thread.js');
      exitCode = await runOnDaemonThread({ command: 'run', config: o.config }, io);
    });

  program
    .command('demo', { isDefault: false })
    .description('run the built-in Mimecast simulator and a collector against it (writes ./data/demo/events.ndjson)')
    .option('--port <n>', 'simulator port (default: random)', intArg)
    .option('--summary-every <ms>', 'live summary interval in ms', intArg, 5000)
    .action(async (o: { port?: number; summaryEvery: number }) => {
      const { runOnDaemonThread } = await import('./daemon-thread.js');
      exitCode = await runOnDaemonThread({ command: 'demo', options: { summaryEveryMs: o.summaryEvery, ...(o.port !== undefined ? { port: o.port } : {}) } }, io);
    });

  program
    .command('validate')
    .description('check a config file: every problem with its path, or the effective config with secrets masked')
    .requiredOption('-c, --config <file>', 'config file (YAML)')
    .action(async (o: { config: string }) => {
      const { validateCommand } = await import('./validate.js');
      exitCode = validateCommand(o.config, io);
    });

  program
    .command('normalize')
    .description('turn raw Mimecast records (stdin, one JSON value a line; API envelopes unwrapped) into output events on stdout')
    .requiredOption('-s, --stream <stream>', 'the stream the records come from (siem takes API 1.0 and 2.0 records alike)')
    .option('-f, --format <format>', 'ecs | raw | cef | leef', 'ecs')
    .option('-a, --account <name>', 'account name for mimecast.account and event ids', 'cli')
    .action(async (o: { stream: string; format: string; account: string }) => {
      endQuietlyWhenStdoutCloses();
      const { normalizeCommand } = await import('./normalize.js');
      exitCode = await normalizeCommand(o, { ...io, stdin: process.stdin });
    });

  program
    .command('fetch')
    .description('one-shot pull of one stream to stdout: no journal, no checkpoint')
    .argument('<stream>', 'siem, ttp_url, ttp_attachment, ttp_impersonation, audit, dlp, held_release, archive_search or threat_intel')
    .requiredOption('-c, --config <file>', 'config file (YAML): accounts and credentials')
    .option('-a, --account <name>', 'only this account (default: every account)')
    .requiredOption('--since <time>', 'start: a duration before now (24h) or an ISO time')
    .option('--until <time>', 'end: a duration before now or an ISO time (default: now)')
    .option('-o, --output <format>', 'ndjson | json | table', 'ndjson')
    .action(async (streamArg: string, o: { config: string; account?: string; since: string; until?: string; output: string }) => {
      endQuietlyWhenStdoutCloses();
      const { fetchCommand } = await import('./fetch.js');
      exitCode = await fetchCommand({ stream: streamArg, ...o }, io);
    });

  const quarantine = program.command('quarantine').description('what the collector set aside as unusable, and reading quarantined files again');
  quarantine
    .command('list')
    .description('the newest quarantine entries: where, why, and whether they can be read again')
    .requiredOption('-c, --config <file>', 'config file (YAML): where the journal is')
    .option('-n, --limit <n>', 'entries to show', intArg, 50)
    .option('-o, --output <format>', 'table | json', 'table')
    .action(async (o: { config: string; limit: number; output: string }) => {
      const { quarantineListCommand } = await import('./quarantine.js');
      exitCode = quarantineListCommand(o, io);
    });
  quarantine
    .command('retry')
    .description('ask the collector (running or at its next start) to read quarantined files again')
    .argument('[ids...]', 'entry ids from `quarantine list`')
    .requiredOption('-c, --config <file>', 'config file (YAML): where the journal is')
    .option('--all', 'every entry that can be read again', false)
    .action(async (ids: string[], o: { config: string; all: boolean }) => {
      const { quarantineRetryCommand } = await import('./quarantine.js');
      exitCode = quarantineRetryCommand({ ...o, ids }, io);
    });

  program
    .command('check')
    .description('live checks, one verdict line each: every account\'s credentials, every stream\'s permission, every sink\'s receiver; exit 1 if any fails')
    .requiredOption('-c, --config <file>', 'config file (YAML)')
    .action(async (o: { config: string }) => {
      const { checkCommand } = await import('./check.js');
      exitCode = await checkCommand(o, io);
    });

  program
    .command('status')
    .description('per stream: cursor position and age, lag, last error; per sink: backlog, last delivery, last error; quarantine, dead letters, journal (works while the collector runs)')
    .requiredOption('-c, --config <file>', 'config file (YAML): where the journal is and where the collector serves /status')
    .option('-o, --output <format>', 'table | json', 'table')
    .action(async (o: { config: string; output: string }) => {
      endQuietlyWhenStdoutCloses();
      const { statusCommand } = await import('./status.js');
      exitCode = await statusCommand(o, io);
    });

  const checkpoints = program
    .command('checkpoints')
    .description('each stream\'s cursor in the journal: list them, move one back to collect again from a time, reset, export/import them');
  const streamOpt = ['--stream <key>', 'the stream\'s key as `checkpoints list` shows it, e.g. corp/audit or corp/siem/receipt'] as const;
  const yesOpt = ['-y, --yes', 'do not ask for confirmation (needed when stdin is not a terminal)', false] as const;
  const journalConfigOpt = ['-c, --config <file>', 'config file (YAML): where the journal is and which streams exist'] as const;
  checkpoints
    .command('list')
    .description('every stream\'s cursor: position, when it last moved, and streams not configured any more')
    .requiredOption(...journalConfigOpt)
    .option('-o, --output <format>', 'table | json (one stream a line)', 'table')
    .action(async (o: { config: string; output: string }) => {
      endQuietlyWhenStdoutCloses();
      const { checkpointsListCommand } = await import('./checkpoints.js');
      exitCode = await checkpointsListCommand(o, io);
    });
  checkpoints
    .command('set')
    .description('move one stream\'s cursor so the collector collects again from TIME (refuses while a collector runs)')
    .requiredOption(...journalConfigOpt)
    .option(...streamOpt)
    .option('--to <time>', 'a date (2026-05-01), an ISO time, or a duration before now (90m, 24h)')
    .option(...yesOpt)
    .action(async (o: { config: string; stream?: string; to?: string; yes: boolean }) => {
      const { checkpointsSetCommand } = await import('./checkpoints.js');
      exitCode = await checkpointsSetCommand(o, io);
    });
  checkpoints
    .command('reset')
    .description('remove one stream\'s cursor: it starts again from its configured start_from (refuses while a collector runs)')
    .requiredOption(...journalConfigOpt)
    .option(...streamOpt)
    .option(...yesOpt)
    .action(async (o: { config: string; stream?: string; yes: boolean }) => {
      const { checkpointsResetCommand } = await import('./checkpoints.js');
      exitCode = await checkpointsResetCommand(o, io);
    });
  checkpoints
    .command('export')
    .description('the cursors as JSON on stdout (to move an account to another pod: stop its old owner first)')
    .requiredOption(...journalConfigOpt)
    .option(...streamOpt)
    .option('-a, --account <name>', 'only this account\'s cursors')
    .action(async (o: { config: string; stream?: string; account?: string }) => {
      endQuietlyWhenStdoutCloses();
      const { checkpointsExportCommand } = await import('./checkpoints.js');
      exitCode = await checkpointsExportCommand(o, io);
    });
  checkpoints
    .command('import')
    .description('write the cursors of an export into this journal, all or nothing (refuses while a collector runs)')
    .argument('<file>', 'the export (- for stdin, with --yes)')
    .requiredOption(...journalConfigOpt)
    .option(...streamOpt)
    .option('-a, --account <name>', 'only this account\'s cursors')
    .option(...yesOpt)
    .action(async (file: string, o: { config: string; stream?: string; account?: string; yes: boolean }) => {
      const { checkpointsImportCommand } = await import('./checkpoints.js');
      exitCode = await checkpointsImportCommand({ ...o, file }, io);
    });

  quarantine
    .command('show')
    .description('whole entries: where, why, the parser\'s words and the raw input kept')
    .argument('<ids...>', 'entry ids from `quarantine list`')
    .requiredOption('-c, --config <file>', 'config file (YAML): where the journal is')
    .option('-o, --output <format>', 'text | json', 'text')
    .action(async (ids: string[], o: { config: string; output: string }) => {
      endQuietlyWhenStdoutCloses();
      const { quarantineShowCommand } = await import('./quarantine.js');
      exitCode = quarantineShowCommand({ ...o, ids }, io);
    });
  quarantine
    .command('purge')
    .description('remove entries for good (asks first; works while the collector runs)')
    .argument('[ids...]', 'entry ids from `quarantine list`')
    .requiredOption('-c, --config <file>', 'config file (YAML): where the journal is')
    .option('--all', 'every entry (narrowed by --stream and --reason)', false)
    .option('--stream <key>', 'only the entries of this stream key (e.g. corp/siem/receipt)')
    .option('--reason <text>', 'only entries whose reason contains this text (any case)')
    .option('-y, --yes', 'do not ask for confirmation (needed when stdin is not a terminal)', false)
    .action(async (ids: string[], o: { config: string; all: boolean; yes: boolean; stream?: string; reason?: string }) => {
      const { quarantinePurgeCommand } = await import('./quarantine.js');
      exitCode = await quarantinePurgeCommand({ ...o, ids }, io);
    });

  const dead = program
    .command('dead-letters')
    .description('events a sink\'s receiver rejected for good: inspect them, send them again once the cause is fixed, or remove them');
  const configOpt = ['-c, --config <file>', 'config file (YAML): where the journal is and which sinks exist'] as const;
  const sinkOpt = ['--sink <name>', 'only the entries of this sink'] as const;
  const reasonOpt = ['--reason <text>', 'only entries whose reason contains this text (any case)'] as const;
  dead
    .command('list')
    .description('the newest dead letters: id, when, sink, stream, log type, event.id and the receiver\'s reason')
    .requiredOption(...configOpt)
    .option(...sinkOpt)
    .option(...reasonOpt)
    .option('-n, --limit <n>', 'entries to show', intArg, 50)
    .option('-o, --output <format>', 'table | json (one entry a line, with its event)', 'table')
    .action(async (o: { config: string; sink?: string; reason?: string; limit: number; output: string }) => {
      endQuietlyWhenStdoutCloses();
      const { deadLettersListCommand } = await import('./dead-letters.js');
      exitCode = deadLettersListCommand(o, io);
    });
  dead
    .command('show')
    .description('whole entries, with the event document as journaled')
    .argument('<ids...>', 'entry ids from `dead-letters list`')
    .requiredOption(...configOpt)
    .option('-o, --output <format>', 'text | json', 'text')
    .action(async (ids: string[], o: { config: string; output: string }) => {
      endQuietlyWhenStdoutCloses();
      const { deadLettersShowCommand } = await import('./dead-letters.js');
      exitCode = deadLettersShowCommand({ ...o, ids }, io);
    });
  dead
    .command('retry')
    .description('send entries again to the sink that rejected them (by the running collector within seconds, or at its next start)')
    .argument('[ids...]', 'entry ids from `dead-letters list`')
    .requiredOption(...configOpt)
    .option('--all', 'every entry (narrowed by --sink and --reason)', false)
    .option(...sinkOpt)
    .option(...reasonOpt)
    .option('--no-wait', 'return at once instead of showing the re-sends\' progress while a collector runs')
    .action(async (ids: string[], o: { config: string; all: boolean; wait: boolean; sink?: string; reason?: string }) => {
      const { deadLettersRetryCommand } = await import('./dead-letters.js');
      exitCode = await deadLettersRetryCommand({ ...o, ids }, io);
    });
  dead
    .command('purge')
    .description('remove entries for good (asks first)')
    .argument('[ids...]', 'entry ids from `dead-letters list`')
    .requiredOption(...configOpt)
    .option('--all', 'every entry (narrowed by --sink and --reason)', false)
    .option(...sinkOpt)
    .option(...reasonOpt)
    .option('-y, --yes', 'do not ask for confirmation', false)
    .action(async (ids: string[], o: { config: string; all: boolean; yes: boolean; sink?: string; reason?: string }) => {
      const { deadLettersPurgeCommand } = await import('./dead-letters.js');
      exitCode = await deadLettersPurgeCommand({ ...o, ids }, io);
    });

  program
    .command('api')
    .description('Mimecast administration: RESOURCE ACTION [options] (`api --help` lists them)')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]', 'RESOURCE ACTION [options]')
    .action(async (args: string[]) => {
      endQuietlyWhenStdoutCloses();
      const { apiMain } = await import('./api/index.js');
      exitCode = await apiMain(args, { ...io, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });
    });

  program
    .command('simulate')
    .description('run the Mimecast API simulator standalone')
    .option('--port <n>', 'port to listen on', intArg, 8443)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--seed <seed>', 'seed for the deterministic data', '1')
    .option('--backlog <n>', 'records already published at start', intArg, 2000)
    .option('--interval <duration>', 'publish new batches this often', '5s')
    .option('--rate <n>', 'records published per interval', intArg, 200)
    .option('--manifest <file>', 'append every published record to this file (one JSON line each)')
    .option('--config-out <file>', 'write a ready-to-run collector config pointed at this simulator')
    .option('--manifest-dir <dir>', 'append every published record of each stream to <dir>/<stream>.ndjson')
    .option('--faults <list>', 'fault switches, e.g. rateLimit429=0.05,serverError500=0.05,truncatedFile=0.02,apiFail200=0.05')
    .option('--unlicensed <streams>', 'comma-separated streams whose endpoints answer 403 not licensed')
    .option('--cloud-integrated', 'the account has Cloud Integrated: serve entities, mailflow and urlclick files too')
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (needs --tls-key)')
    .option('--tls-key <file>', 'the PEM private key for --tls-cert')
    .option('--public-host <name>', 'the host name discover-authentication answers for the region (default: the name the client used, localhost for a loopback address)')
    .action(async (o: SimulateOptions) => {
      const { simulateCommand } = await import('./simulate.js');
      exitCode = await simulateCommand(o, io);
    });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return 0;
    if (typeof code === 'string' && code.startsWith('commander.')) return 2;
    throw err;
  }
  return exitCode;
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(redactText(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`));
    process.exitCode = 1;
  },
);
