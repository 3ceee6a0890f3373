/** Parses a `--options` JSON argument (absent: `{}`) with an error that shows the bad text. */
export function parseJsonOption(text: string | undefined, flag = '--options'): unknown {
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${flag} is not valid JSON: ${text}`);
  }
}
