// The tickets service's mention syntax: `@[Ana Lopez](user-id)` in a note's text notifies the user
// (services/tickets/tickets/service/conversations.py MENTION). These helpers find what is being
// typed after an @, insert the token, and show tokens as names.
import type { Schemas } from "../../api/client";

export type Person = Schemas["DirectoryUser"];

const UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";
const TOKEN = new RegExp(`@\\[([^\\]\\n]{1,200})\\]\\((${UUID})\\)`, "g");

/** The name a mention shows: the user's name, else their address (no brackets or line breaks). */
export function displayName(p: Person): string {
  const raw = (p.name ?? "").trim() || (p.email ?? "").trim() || "someone";
  return raw.replace(/[\][\n\r]/g, " ").slice(0, 200);
}

/** The `@word` the caret is in (start: the @'s index), or null. An @ inside an address is not one. */
export function mentionQuery(text: string, caret: number): { start: number; query: string } | null {
  const before = text.slice(0, caret);
  const match = /(^|[\s(])@([^\s@[\]()]{0,40})$/.exec(before);
  if (!match) return null;
  const query = match[2] ?? "";
  return { start: caret - query.length - 1, query };
}

/** Users whose name or email matches: prefix matches of a word first, then anywhere; at most `limit`. */
export function matchPeople(people: Person[], query: string, limit = 6): Person[] {
  const q = query.toLowerCase();
  const score = (p: Person): number => {
    const hay = `${p.name ?? ""} ${p.email ?? ""}`.toLowerCase();
    if (!q) return 1;
    if (hay.split(/[\s@.]+/).some((w) => w.startsWith(q))) return 2;
    return hay.includes(q) ? 1 : 0;
  };
  return people
    .map((p) => ({ p, s: score(p) }))
    .filter((x) => x.s > 0)
    .sort((a, b) => b.s - a.s || displayName(a.p).localeCompare(displayName(b.p)))
    .slice(0, limit)
    .map((x) => x.p);
}

/** The text with `@query` (from start to caret) replaced by the person's token and a space. */
export function insertMention(text: string, start: number, caret: number, p: Person): { text: string; caret: number } {
  const token = `@[${displayName(p)}](${p.id ?? ""}) `;
  return { text: text.slice(0, start) + token + text.slice(caret), caret: start + token.length };
}

export type Part = { kind: "text"; text: string } | { kind: "mention"; name: string; id: string };

/** A message's text as plain runs and mentions (shown as "@Name", never as the raw token). */
export function mentionParts(text: string): Part[] {
  const parts: Part[] = [];
  let last = 0;
  for (const m of text.matchAll(TOKEN)) {
    const at = m.index ?? 0;
    if (at > last) parts.push({ kind: "text", text: text.slice(last, at) });
    parts.push({ kind: "mention", name: m[1] ?? "", id: (m[2] ?? "").toLowerCase() });
    last = at + m[0].length;
  }
  if (last < text.length) parts.push({ kind: "text", text: text.slice(last) });
  return parts;
}
