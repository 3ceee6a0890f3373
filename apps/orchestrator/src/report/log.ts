import { readFile } from 'node:fs/promises';

/** An attack's log.ndjson record, as the reports read it. */
export type LogRecord = { step: number; terms: Record<string, number> };

/** Steps at which each term's logged loss first reached 0. */
export function stepsToTarget(records: LogRecord[]): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const term of Object.keys(records[0]?.terms ?? {})) out[term] = records.find((r) => r.terms[term] === 0)?.step ?? null;
  return out;
}

export async function readLog(file: string): Promise<LogRecord[]> {
  return (await readFile(file, 'utf8'))
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as LogRecord);
}
