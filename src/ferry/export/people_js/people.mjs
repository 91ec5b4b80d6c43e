// Person names in free text, for Ferry's redaction (ferry/export/people.py starts this).
//
// Protocol: one JSON object a line on stdin, {"id": N, "text": "..."}; for each, one line on
// stdout, {"id": N, "spans": [[start, end], ...]}, offsets in Unicode code points (Python's
// string indices). A line that is not such an object gets {"id": null, "error": "..."}.
// Nothing is written anywhere else; the process ends when stdin closes.
import { createInterface } from "node:readline";
import nlp from "compromise";

// compromise's cost grows faster than the text (35 KB takes ~40 times as long as 3 KB), and
// names do not cross sentences: long texts are read in pieces of at most PIECE code units,
// cut after a line break or a sentence's end where there is one.
const PIECE = 2000;
const CUT = /[\n.!?][\s"')\]]*/g;

function pieces(text) {
  const out = [];
  let start = 0;
  while (text.length - start > PIECE) {
    const window = text.slice(start, start + PIECE);
    let cut = -1;
    for (const m of window.matchAll(CUT)) {
      if (m.index + m[0].length > PIECE / 4) cut = m.index + m[0].length;
    }
    if (cut < 0) cut = window.lastIndexOf(" ") + 1;
    if (cut <= 0) cut = PIECE;
    // never cut between the halves of a surrogate pair
    const c = text.charCodeAt(start + cut - 1);
    if (c >= 0xd800 && c <= 0xdbff) cut -= 1;
    out.push([start, start + cut]);
    start += cut;
  }
  out.push([start, text.length]);
  return out;
}

// compromise counts UTF-16 code units; Python counts code points. Spans come in order, so
// one walk over the text converts them all.
function toCodePoints(text, spans) {
  if (!/[\ud800-\udfff]/.test(text)) return spans;
  const marks = spans.flat().map((unit, i) => [unit, i]).sort((a, b) => a[0] - b[0]);
  const out = spans.flat();
  let unit = 0;
  let points = 0;
  for (const [target, i] of marks) {
    while (unit < target && unit < text.length) {
      const c = text.charCodeAt(unit);
      const pair = c >= 0xd800 && c <= 0xdbff && unit + 1 < text.length &&
        text.charCodeAt(unit + 1) >= 0xdc00 && text.charCodeAt(unit + 1) <= 0xdfff;
      unit += pair ? 2 : 1;
      points += 1;
    }
    out[i] = points;
  }
  const result = [];
  for (let i = 0; i < out.length; i += 2) result.push([out[i], out[i + 1]]);
  return result;
}

function people(text) {
  const spans = [];
  for (const [from, to] of pieces(text)) {
    for (const match of nlp(text.slice(from, to)).people().json({ offset: true })) {
      const { start, length } = match.offset;
      if (length > 0) spans.push([from + start, from + start + length]);
    }
  }
  return toCodePoints(text, spans);
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  let reply;
  try {
    const ask = JSON.parse(line);
    if (typeof ask !== "object" || ask === null || typeof ask.text !== "string") {
      throw new Error("expected {id, text}");
    }
    reply = { id: ask.id ?? null, spans: people(ask.text) };
  } catch (err) {
    reply = { id: null, error: String(err && err.message ? err.message : err).slice(0, 200) };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
}
