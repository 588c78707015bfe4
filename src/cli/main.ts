#!/usr/bin/env node
// The mimecast-collector command line; the only place that touches `process`.
import { Command, InvalidArgumentError } from 'commander';
import { demoCommand } from './demo.js';
import type { CommandIo } from './io.js';
import { runCommand } from './run.js';
import { simulateCommand } from './simulate.js';
import { validateCommand } from './validate.js';

function intArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
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
  const io: CommandIo = { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: stop.signal };
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
      exitCode = await runCommand(o.config, io);
    });

  program
    .command('demo', { isDefault: false })
    .description('run the built-in Mimecast simulator and a collector against it (writes ./data/demo/events.ndjson)')
    .option('--port <n>', 'simulator port (default: random)', intArg)
    .option('--summary-every <ms>', 'live summary interval in ms', intArg, 5000)
    .action(async (o: { port?: number; summaryEvery: number }) => {
      exitCode = await demoCommand({ summaryEveryMs: o.summaryEvery, ...(o.port !== undefined ? { port: o.port } : {}) }, io);
    });

  program
    .command('validate')
    .description('check a config file: every problem with its path, or the effective config with secrets masked')
    .requiredOption('-c, --config <file>', 'config file (YAML)')
    .action((o: { config: string }) => {
      exitCode = validateCommand(o.config, io);
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
    .option('--faults <list>', 'fault switches, e.g. rateLimit429=0.05,serverError500=0.05,truncatedGzip=0.02')
    .action(async (o: { port: number; host: string; seed: string; backlog: number; interval: string; rate: number; manifest?: string; configOut?: string; faults?: string }) => {
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
    process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
