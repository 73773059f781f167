import { describe, expect, it } from "vitest";
import { hasOptions, parseOptions } from "./propertiesApi";
import { parseTags, renumber, type Rule, userLabel } from "./teamsApi";

describe("custom field helpers", () => {
  it("reads one option a line and knows which types have options", () => {
    expect(parseOptions(" red\n\nblue \n")).toEqual(["red", "blue"]);
    expect(hasOptions("enum")).toBe(true);
    expect(hasOptions("multi_enum")).toBe(true);
    expect(hasOptions("text")).toBe(false);
  });
});

describe("routing rule helpers", () => {
  it("renumbers only the rules whose position changes", () => {
    const rules: Rule[] = [{ id: "b", name: "B", position: 20 }, { id: "a", name: "A", position: 10 }, { id: "c", name: "C", position: 30 }];
    expect(renumber(rules).map(({ rule, position }) => [rule.id, position])).toEqual([["b", 10], ["a", 20]]);
    expect(renumber([{ id: "x", position: 10 }])).toEqual([]);
  });

  it("reads comma-separated tags", () => {
    expect(parseTags("billing, vip ,, ")).toEqual(["billing", "vip"]);
  });

  it("names a user by name, then email", () => {
    const users = [{ id: "1", email: "ada@example.com", name: "Ada", role: "admin" as const }, { id: "2", email: "bob@example.com", role: "member" as const }];
    expect(userLabel(users, "1")).toBe("Ada");
    expect(userLabel(users, "2")).toBe("bob@example.com");
    expect(userLabel(users, null)).toBe("nobody");
    expect(userLabel(users, "9")).toBe("a former user");
  });
});
