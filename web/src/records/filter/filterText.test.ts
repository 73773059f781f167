import { describe, expect, it } from "vitest";
import {
  type Condition,
  type FilterField,
  FilterSyntaxError,
  idsFilter,
  operatorsFor,
  parseFilter,
  quote,
  readFilter,
  renderFilter,
  renderValue,
} from "./filterText";

const FIELDS: FilterField[] = [
  { key: "email", label: "Email", type: "email" },
  { key: "last_name", label: "Last name", type: "text" },
  { key: "lifecycle_stage", label: "Stage", type: "enum", options: ["lead", "customer"] },
  { key: "lead_score", label: "Score", type: "number" },
  { key: "created_at", label: "Created", type: "datetime" },
  { key: "renewal", label: "Renewal", type: "date" },
  { key: "vip", label: "VIP", type: "bool" },
  { key: "tags", label: "Tags", type: "tags" },
  { key: "arr", label: "ARR", type: "money" },
];

const c = (field: string, op: Condition["op"], ...values: string[]): Condition => ({ field, op, values });
const text = (...groups: Condition[][]) => renderFilter({ groups }, FIELDS);

describe("renderFilter", () => {
  it("quotes strings and doubles their quotes", () => {
    expect(text([c("last_name", "=", "O'Brien")]).text).toBe("last_name = 'O''Brien'");
    expect(quote("it's 'x'")).toBe("'it''s ''x'''");
    expect(text([c("last_name", "contains", 'say "hi"')]).text).toBe(`last_name contains 'say "hi"'`);
  });

  it("writes numbers bare and refuses what is not a number", () => {
    expect(text([c("lead_score", ">=", "50")]).text).toBe("lead_score >= 50");
    expect(text([c("arr", "<", "-12.5")]).text).toBe("arr < -12.5");
    const bad = text([c("lead_score", ">", "fifty")]);
    expect(bad.text).toBe("");
    expect(bad.problems).toEqual(['Score: "fifty" is not a number']);
    expect(text([c("lead_score", "=", "1e5")]).problems).toHaveLength(1); // the grammar has no exponents
  });

  it("quotes dates and checks them", () => {
    expect(text([c("renewal", "<", "2027-01-31")]).text).toBe("renewal < '2027-01-31'");
    expect(text([c("created_at", ">=", "2026-12-01")]).text).toBe("created_at >= '2026-12-01'");
    expect(text([c("created_at", "<", "2026-12-01T10:00:00Z")]).text).toBe("created_at < '2026-12-01T10:00:00Z'");
    expect(text([c("renewal", "=", "2027-02-30")]).problems).toEqual(['Renewal: "2027-02-30" is not a date (YYYY-MM-DD)']);
    expect(text([c("created_at", "=", "31/01/2027")]).problems).toHaveLength(1);
  });

  it("writes true and false bare", () => {
    expect(text([c("vip", "=", "true")]).text).toBe("vip = true");
    expect(text([c("vip", "=", "yes")]).problems).toEqual(["VIP: choose true or false"]);
  });

  it("writes in-lists, leaving out blank entries", () => {
    expect(text([c("lifecycle_stage", "in", "lead", "customer")]).text).toBe("lifecycle_stage in ('lead', 'customer')");
    expect(text([c("lead_score", "not in", "1", " ", "2")]).text).toBe("lead_score not in (1, 2)");
    expect(text([c("tags", "in")]).problems).toEqual(['Tags: the value is empty (choose "is empty" to find missing values)']);
  });

  it("leaves out empty values and unstarted rows, and says why", () => {
    const r = text([c("email", "=", ""), c("", "="), c("lead_score", ">", "3")]);
    expect(r.text).toBe("lead_score > 3");
    expect(r.problems).toEqual(['Email: the value is empty (choose "is empty" to find missing values)']);
    expect(text([c("email", "is null"), c("tags", "is not null")]).text).toBe("email is null and tags is not null");
    expect(text().text).toBe("");
  });

  it("joins groups with or, parenthesising groups of several", () => {
    expect(text([c("email", "contains", "acme"), c("lead_score", ">", "5")], [c("vip", "=", "true")]).text).toBe(
      "(email contains 'acme' and lead_score > 5) or vip = true",
    );
    expect(text([c("email", "=", "")], [c("vip", "=", "true")]).text).toBe("vip = true"); // an emptied group goes
  });
});

describe("parseFilter", () => {
  it("reads the grammar of API.md", () => {
    expect(parseFilter("lifecycle_stage = 'lead' AND (plan in ('pro', \"team\") or lead_score >= 50)")).toEqual({
      type: "and",
      items: [
        { type: "comparison", field: "lifecycle_stage", op: "=", values: [{ kind: "string", value: "lead" }] },
        {
          type: "or",
          items: [
            { type: "comparison", field: "plan", op: "in", values: [{ kind: "string", value: "pro" }, { kind: "string", value: "team" }] },
            { type: "comparison", field: "lead_score", op: ">=", values: [{ kind: "number", value: "50" }] },
          ],
        },
      ],
    });
    expect(parseFilter("email = null")).toEqual({ type: "comparison", field: "email", op: "is null", values: [] });
    expect(parseFilter("email != NULL")).toMatchObject({ op: "is not null" });
    expect(parseFilter("not (vip = true)")).toMatchObject({ type: "not" });
    expect(parseFilter("name = 'it''s'")).toMatchObject({ values: [{ value: "it's" }] });
    expect(parseFilter("x not in (1, -2.5)")).toMatchObject({ op: "not in", values: [{ kind: "number", value: "1" }, { kind: "number", value: "-2.5" }] });
  });

  it("names the problem and its position", () => {
    const cases: [string, RegExp][] = [
      ["", /empty/],
      ["email = ", /end of filter at position 9/],
      ["email ~ 'x'", /Unexpected character '~' at position 7/],
      ["email = 'x", /Unterminated string starting at position 9/],
      ["lead_score > 12abc", /Invalid number at position 14/],
      ["email = 'a' email = 'b'", /'and', 'or' or the end/],
      ["email in ('a', null)", /null is not allowed/],
      ["(email = 'a'", /expected '\)'/],
      ["email < null", /null can only be compared/],
      ["email = lead", /a value/],
    ];
    for (const [input, message] of cases) {
      expect(() => parseFilter(input), input).toThrow(FilterSyntaxError);
      expect(() => parseFilter(input), input).toThrow(message);
    }
  });
});

describe("readFilter", () => {
  it("reads groups of conditions back into the builder", () => {
    const r = readFilter("(email contains 'acme' and lead_score > 5) or vip = true or tags in ('a', 'b')", FIELDS);
    expect(r).toEqual({
      ok: true,
      model: { groups: [[c("email", "contains", "acme"), c("lead_score", ">", "5")], [c("vip", "=", "true")], [c("tags", "in", "a", "b")]] },
    });
    expect(readFilter("  ", FIELDS)).toEqual({ ok: true, model: { groups: [] } });
  });

  it("round-trips what the builder writes", () => {
    const groups = [
      [c("last_name", "=", "O'Brien"), c("renewal", ">=", "2027-01-01"), c("email", "is not null")],
      [c("lifecycle_stage", "not in", "lead", "customer"), c("arr", "<=", "1000.50")],
    ];
    const written = renderFilter({ groups }, FIELDS).text;
    const read = readFilter(written, FIELDS);
    expect(read).toEqual({ ok: true, model: { groups } });
    if (read.ok) expect(renderFilter(read.model, FIELDS).text).toBe(written);
  });

  it("says when only the raw text can show a filter", () => {
    const reasons: [string, RegExp][] = [
      ["not (vip = true)", /'not'/],
      ["email = 'a' and (vip = true or lead_score > 1)", /nests/],
      ["shoe_size > 3", /'shoe_size'/],
      ["vip contains 'x'", /does not apply to VIP/],
      ["tags in ('a,b', 'c')", /comma/],
      ["email = ''", /empty/],
      ["lead_score = 'many'", /not a number/],
      ["email = ", /position/],
    ];
    for (const [input, reason] of reasons) {
      const r = readFilter(input, FIELDS);
      expect(r.ok, input).toBe(false);
      if (!r.ok) expect(r.reason, input).toMatch(reason);
    }
  });

  it("takes a quoted number for a number field (the API accepts it) and writes it bare", () => {
    const r = readFilter("lead_score = '7'", FIELDS);
    expect(r.ok).toBe(true);
    if (r.ok) expect(renderFilter(r.model, FIELDS).text).toBe("lead_score = 7");
  });
});

describe("operators and helpers", () => {
  it("offers per type what the API accepts", () => {
    expect(operatorsFor("bool")).toEqual(["=", "is null", "is not null"]);
    expect(operatorsFor("tags")).not.toContain("=");
    expect(operatorsFor("number")).not.toContain("contains");
    expect(operatorsFor("text")).toContain("starts_with");
  });

  it("renders a single value by type", () => {
    expect(renderValue({ key: "x", label: "X", type: "uuid" }, " 0190-ab ")).toEqual({ text: "'0190-ab'" });
    expect(renderValue(undefined, "")).toHaveProperty("problem");
  });

  it("writes an id list", () => {
    expect(idsFilter(["a", "b"])).toBe("id in ('a', 'b')");
  });
});
