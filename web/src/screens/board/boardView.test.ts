import { describe, expect, it } from "vitest";
import { boardQuery, isFiltered, readView, writeView } from "./boardView";

describe("the board's view in the URL", () => {
  it("round-trips and leaves empty parts out", () => {
    const view = readView(new URLSearchParams("pipeline=p1&owner=u1&q=acme&filter=amount%20%3E%3D%2010"));
    expect(view).toEqual({ pipeline: "p1", owner: "u1", q: "acme", filter: "amount >= 10" });
    expect(writeView(view).toString()).toBe("pipeline=p1&owner=u1&q=acme&filter=amount+%3E%3D+10");
    expect(writeView({ pipeline: null, owner: "", q: "  ", filter: "" }).toString()).toBe("");
  });

  it("becomes the board endpoints' owner_id, q and filter", () => {
    expect(boardQuery({ pipeline: "p", owner: "u", q: " a ", filter: "" })).toEqual({ owner_id: "u", q: "a" });
    expect(isFiltered(readView(new URLSearchParams("pipeline=p")))).toBe(false);
    expect(isFiltered(readView(new URLSearchParams("filter=x")))).toBe(true);
  });
});
