import { describe, expect, it } from "vitest";
import { displayName, insertMention, matchPeople, mentionParts, mentionQuery, type Person } from "./mentions";

const GRACE: Person = { id: "0190f1c2-0000-7000-8000-000000000001", name: "Grace Hopper", email: "grace@example.com" };
const ALAN: Person = { id: "0190f1c2-0000-7000-8000-000000000002", name: null, email: "alan@example.com" };
const ADA: Person = { id: "0190f1c2-0000-7000-8000-000000000003", name: "Ada [the first] Lovelace", email: "ada@example.com" };

describe("mentionQuery", () => {
  it("finds the @word at the caret, at the start or after a space", () => {
    expect(mentionQuery("@gr", 3)).toEqual({ start: 0, query: "gr" });
    expect(mentionQuery("ask @gra now", 8)).toEqual({ start: 4, query: "gra" });
    expect(mentionQuery("ask @", 5)).toEqual({ start: 4, query: "" });
  });
  it("ignores an @ inside an address or a finished word", () => {
    expect(mentionQuery("mail grace@example", 18)).toBeNull();
    expect(mentionQuery("@grace done", 11)).toBeNull();
  });
});

describe("matchPeople", () => {
  it("matches names and addresses, word prefixes first", () => {
    expect(matchPeople([ALAN, GRACE], "hop")).toEqual([GRACE]);
    expect(matchPeople([ALAN, GRACE], "alan")).toEqual([ALAN]);
    expect(matchPeople([GRACE, ALAN], "")).toEqual([ALAN, GRACE]);
    expect(matchPeople([GRACE, ALAN], "zzz")).toEqual([]);
  });
});

describe("insertMention and mentionParts", () => {
  it("inserts the API's @[Name](user-id) token and reads it back as a name", () => {
    const { text, caret } = insertMention("ping @gra please", 5, 9, GRACE);
    expect(text).toBe(`ping @[Grace Hopper](${GRACE.id ?? ""})  please`);
    expect(caret).toBe(`ping @[Grace Hopper](${GRACE.id ?? ""}) `.length);
    expect(mentionParts(text)).toEqual([
      { kind: "text", text: "ping " },
      { kind: "mention", name: "Grace Hopper", id: GRACE.id },
      { kind: "text", text: "  please" },
    ]);
  });
  it("names a user without a name by their address, and keeps brackets out of the token", () => {
    expect(displayName(ALAN)).toBe("alan@example.com");
    expect(displayName(ADA)).toBe("Ada  the first  Lovelace");
    expect(mentionParts(insertMention("@a", 0, 2, ADA).text)[0]).toMatchObject({ kind: "mention", name: "Ada  the first  Lovelace" });
  });
  it("leaves text without tokens alone", () => {
    expect(mentionParts("just @text [x](y)")).toEqual([{ kind: "text", text: "just @text [x](y)" }]);
  });
});
