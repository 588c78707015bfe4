// `validate --config FILE`: every problem with its path, or the effective config with secrets masked.
import { stringify } from 'yaml';
import { loadConfig, maskSecrets } from '../config/load.js';
import { shardPlan } from '../config/sharding.js';
import { ConfigError } from '../core/errors.js';
import { redactText } from '../telemetry/redact.js';
import { println, type CommandIo } from './io.js';

export function validateCommand(file: string, io: CommandIo): number {
  try {
    const config = loadConfig(file, io.env);
    println(io.stdout, `# ${file}: valid. Effective config (defaults filled in, secrets masked):`);
    // Masked by key, then by value: a secret also written under another key (a URL with a password) is cut too.
    io.stdout.write(redactText(stringify(maskSecrets(config))));
    if (config.sharding !== undefined) {
      // What each pod will collect: for planning a change of sharding.count (docs/operations.md, "Past one replica").
      println(io.stdout, `# sharding: ${config.accounts.length} accounts over ${config.sharding.count} collectors:`);
      shardPlan(config.accounts.map((a) => a.name), config.sharding.count).forEach((accounts, i) => {
        println(io.stdout, `#   shard ${i}: ${accounts.length === 0 ? '(none)' : accounts.join(', ')}`);
      });
    }
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      printConfigError(err, io);
      return 1;
    }
    throw err;
  }
}

export function printConfigError(err: ConfigError, io: CommandIo): void {
  println(io.stderr, `error: ${err.message}`);
  for (const issue of err.issues) println(io.stderr, `  ${issue.path}: ${issue.message}`);
}
