import { describe, expect, it } from "vitest";
import type { Deal } from "../../api/client";
import { appendPage, type Board, cardFromDeal, mergeSummary, placeCard, replaceColumn, restoreCard } from "./boardCache";

const card = (id: string, stage: string, position: number) => ({ id, name: id, stage_id: stage, version: 1, position });

function board(): Board {
  return {
    pipeline_id: "p", count: 4,
    stages: [
      { id: "a", name: "A", count: 3, cards: [card("1", "a", 1), card("2", "a", 2), card("3", "a", 3)], next_cursor: null },
      { id: "b", name: "B", count: 1, cards: [card("4", "b", 1)], next_cursor: "more" },
      { id: "c", name: "C", count: 0, cards: [], next_cursor: null },
    ],
  };
}

const names = (b: Board, stage: number) => (b.stages?.[stage]?.cards ?? []).map((c) => c.id);

describe("placeCard", () => {
  it("moves a card between columns, counts follow, other columns keep their identity", () => {
    const before = board();
    const after = placeCard(before, card("2", "a", 2), "b", { before: "4" });
    expect(names(after, 0)).toEqual(["1", "3"]);
    expect(names(after, 1)).toEqual(["2", "4"]);
    expect([after.stages?.[0]?.count, after.stages?.[1]?.count]).toEqual([2, 2]);
    expect(after.stages?.[1]?.cards?.[0]?.stage_id).toBe("b");
    expect(after.stages?.[2]).toBe(before.stages?.[2]);
  });

  it("places at the end, at the top, or by the saved position; a card already there counts once", () => {
    const moved = placeCard(board(), card("1", "a", 1), "c", { at: "end" });
    expect(names(moved, 2)).toEqual(["1"]);
    const again = placeCard(moved, { ...card("1", "c", 0.5), version: 2 }, "c", { at: "position" });
    expect(again.stages?.[2]?.count).toBe(1);
    expect(again.stages?.[2]?.cards?.[0]?.version).toBe(2);
    const byPosition = placeCard(board(), card("4", "b", 2.5), "a", { at: "position" });
    expect(names(byPosition, 0)).toEqual(["1", "2", "4", "3"]);
    expect(names(placeCard(board(), card("3", "a", 3), "b", { at: "top" }), 1)).toEqual(["3", "4"]);
  });
});

describe("restoreCard", () => {
  it("puts a refused move back at its place", () => {
    const origin = { stageId: "a", index: 1, card: card("2", "a", 2) };
    const moved = placeCard(board(), origin.card, "c", { at: "end" });
    const back = restoreCard(moved, origin);
    expect(names(back, 0)).toEqual(["1", "2", "3"]);
    expect(names(back, 2)).toEqual([]);
    expect([back.stages?.[0]?.count, back.stages?.[2]?.count]).toEqual([3, 0]);
  });
});

describe("mergeSummary, replaceColumn, appendPage", () => {
  it("takes counts and totals from the fresh answer and keeps the loaded cards", () => {
    const fresh: Board = { pipeline_id: "p", count: 9, stages: [
      { id: "a", name: "A", count: 7, totals: [{ currency: "EUR", count: 7, total: "70.00", weighted: "7.00" }], cards: [] },
      { id: "b", name: "B", count: 1, cards: [] },
      { id: "c", name: "C", count: 0, cards: [] },
    ] };
    const before = board();
    const merged = mergeSummary(before, fresh);
    expect(merged.count).toBe(9);
    expect(merged.stages?.[0]?.count).toBe(7);
    expect(names(merged, 0)).toEqual(["1", "2", "3"]);
    expect(merged.stages?.[1]).toBe(before.stages?.[1]); // unchanged: the same object
  });

  it("replaces a refetched column and appends a page without repeating a card", () => {
    const replaced = replaceColumn(board(), "b", [card("9", "b", 1)], null);
    expect(names(replaced, 1)).toEqual(["9"]);
    expect(replaced.stages?.[1]?.next_cursor).toBeNull();
    const appended = appendPage(board(), "b", [card("4", "b", 1), card("5", "b", 2)], "next");
    expect(names(appended, 1)).toEqual(["4", "5"]);
    expect(appended.stages?.[1]?.next_cursor).toBe("next");
  });
});

describe("cardFromDeal", () => {
  it("is the card the board endpoint would give", () => {
    const deal = { id: "d", stage_id: "s", version: 3, number: 7, name: "Big", amount: { amount: "10.00", currency: "EUR" },
      amount_in_base: "11.00", owner_id: null, expected_close_date: "2027-01-01", probability: 40, rotten: false,
      next_activity_at: null, position: 5 } as Deal;
    expect(cardFromDeal(deal)).toEqual({ ...deal });
    expect(cardFromDeal({ ...deal, amount: null }).amount).toBeNull();
  });
});
