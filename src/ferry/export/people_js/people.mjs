// Person names in free text, for Ferry's redaction (ferry/export/people.py starts this).
//
// Protocol: one JSON object a line on stdin, {"id": N, "text": "..."}; for each, one line on
// stdout, {"id": N, "spans": [[start, end], ...]}, offsets in Unicode code points (Python's
// string indices). A line that is not such an object gets {"id": null, "error": "..."}.
// Nothing is written anywhere else; the process ends when stdin closes.
import { createInterface } from "node:readline";
import nlp from "compromise";

// compromise counts UTF-16 code units; Python counts code points.
function codePoints(text, unit) {
  let points = 0;
  for (let i = 0; i < unit && i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xdc00 && c <= 0xdfff && i > 0) {
      const p = text.charCodeAt(i - 1);
      if (p >= 0xd800 && p <= 0xdbff) continue; // second half of a pair
    }
    points++;
  }
  return points;
}

function people(text) {
  const found = nlp(text).people().json({ offset: true });
  const spans = [];
  for (const match of found) {
    const { start, length } = match.offset;
    spans.push([codePoints(text, start), codePoints(text, start + length)]);
  }
  return spans;
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
