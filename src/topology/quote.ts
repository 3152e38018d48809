/**
 * Text from the file as error messages show it: control characters escaped (a newline in a key
 * cannot forge a line of output), and a key that is no name shown only by its start, so that
 * `-f` of a file that is not a topology (`/etc/shadow` under sudo) prints none of its lines.
 */

/** C0 and C1 controls, DEL, line and paragraph separators, bidirectional overrides. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this finds, to escape them.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `text` with every control character as an escape (`\n`, `\u0000`). */
export function escapeControls(text: string): string {
  return text.replace(CONTROL, (ch) => {
    const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    return named[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

/** What a key of netlab's YAML looks like: a name, shown whole. */
const NAME_LIKE = /^[A-Za-z0-9_.-]{1,64}$/;

/** The most of a key that is no name a message shows: its leading name characters, up to this many. */
const EXCERPT = 12;

/**
 * A key as a message quotes it: whole (escaped) when it is short and has no ":", "=" or
 * space, as a mistyped key has; else only its leading name characters (`"root…"` for a line
 * of /etc/shadow, which YAML reads as one long key).
 */
export function quoteKey(key: string): string {
  if (key.length <= 32 && !/[\s:=]/.test(key.replace(CONTROL, ''))) return quoteValue(key);
  const start = /^[A-Za-z0-9_-]*/.exec(key)![0].slice(0, EXCERPT);
  return `"${start}…"`;
}

/** A value as a message quotes it: escaped, and cut after 64 characters. */
export function quoteValue(value: string): string {
  const cut = value.length > 64 ? `${value.slice(0, 64)}…` : value;
  return `"${escapeControls(cut).replace(/"/g, '\\"')}"`;
}

/** A path segment: a name as is, anything else quoted by quoteKey, in brackets. */
export function pathSegment(seg: string): string {
  return NAME_LIKE.test(seg) ? seg : `[${quoteKey(seg)}]`;
}

/**
 * A message of the yaml package without the source text it quotes (`... in YAML stream: "x"`):
 * the line number says where, and a file that is not YAML may hold secrets on that line.
 */
export function yamlMessage(message: string): string {
  return escapeControls(
    message
      .split('\n')[0]!
      .replace(/:?\s*"(?:[^"\\]|\\.)*"/g, '')
      .replace(/:\s*$/, ''),
  );
}
