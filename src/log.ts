import { createRequire } from 'node:module';

/**
 * Structured logs go to stderr so that stdout carries only what a user or script asked for.
 * `json` is pino's own line format (pino is loaded only then); `pretty` prints the same records
 * as `level msg key=value`, written here without pino, whose loading a short run would feel.
 */
export type LogFormat = 'pretty' | 'json';

type Fields = Record<string, unknown>;
type LogFn = {
  (msg: string): void;
  (fields: Fields, msg?: string): void;
};

export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
}

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
type Level = keyof typeof LEVELS;

function prettyLogger(level: string): Logger {
  const min = LEVELS[level as Level] ?? LEVELS.warn;
  const make = (name: Level): LogFn =>
    ((a: Fields | string, b?: string) => {
      if (LEVELS[name] < min) return;
      const [fields, msg] = typeof a === 'string' ? [{}, a] : [a, b];
      const text = Object.entries(fields)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      process.stderr.write(`${name} ${msg ?? ''}${text ? ` ${text}` : ''}\n`);
    }) as LogFn;
  return { trace: make('trace'), debug: make('debug'), info: make('info'), warn: make('warn'), error: make('error'), fatal: make('fatal') };
}

function jsonLogger(level: string): Logger {
  const { pino } = createRequire(import.meta.url)('pino') as typeof import('pino');
  return pino({ level }, pino.destination(2)) as unknown as Logger;
}

let logger: Logger = prettyLogger(process.env.NETLAB_LOG_LEVEL ?? 'warn');

export function configureLogging(level: string, format: LogFormat): void {
  logger = format === 'json' ? jsonLogger(level) : prettyLogger(level);
}

export function log(): Logger {
  return logger;
}
