import { describe, expect, it } from "vitest";
import { differingRows, keepFromSecondary, sideOf } from "./mergeChoice";
import type { FieldSpec } from "./types";

interface Rec { name: string | null; phone: string | null; plan: string | null; note: string | null }
const spec = (key: keyof Rec, mergeKey?: string): FieldSpec<Rec, unknown> => ({ key, label: key, kind: "text", read: (r) => r[key], body: () => ({}), mergeKey });
const compare = [spec("name", "name"), spec("phone", "phone"), spec("plan", "properties.plan"), spec("note")];
const mine: Rec = { name: "Ada", phone: null, plan: "free", note: "a" };
const theirs: Rec = { name: "Augusta", phone: "+44", plan: "free", note: "b" };

describe("merge choices", () => {
  it("lists the differing fields; the user chooses where both have a value", () => {
    const rows = differingRows(compare, mine, theirs);
    expect(rows.map((r) => [r.key, r.choosable])).toEqual([["name", true], ["phone", false], ["note", false]]);
  });

  it("keeps the staying record's values unless the user picks the other's", () => {
    const rows = differingRows(compare, mine, theirs);
    expect(keepFromSecondary(rows, {}, "this")).toEqual([]);
    expect(keepFromSecondary(rows, { name: "other" }, "this")).toEqual(["name"]);
    // the other record stays: picking this record's name is what comes from the secondary
    expect(keepFromSecondary(rows, {}, "other")).toEqual([]);
    expect(keepFromSecondary(rows, { name: "this" }, "other")).toEqual(["name"]);
    const phone = rows.find((r) => r.key === "phone");
    expect(phone && sideOf(phone, {}, "this")).toBe("other"); // the empty one is filled
  });
});
