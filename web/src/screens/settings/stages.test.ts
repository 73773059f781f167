import { describe, expect, it } from "vitest";
import type { Stage } from "../../api/client";
import { change, changed, fromStages, move, newStage, toStagesIn } from "./stages";

const saved: Stage[] = [
  { id: "b", name: "Won", probability: 100, kind: "won", position: 1, forecast_category: "closed", rotten_days: null, archived: false },
  { id: "a", name: "Lead", probability: 10, kind: "open", position: 0, forecast_category: "pipeline", rotten_days: 30, archived: false },
];

describe("the stage draft", () => {
  it("starts in the stages' order", () => {
    const draft = fromStages(saved);
    expect(draft.map((s) => s.name)).toEqual(["Lead", "Won"]);
    expect(draft[0]).toMatchObject({ id: "a", probability: "10", rottenDays: "30", forecastCategory: "pipeline" });
    expect(changed(draft, saved)).toBe(false);
  });

  it("moves a stage up and down, not past the ends", () => {
    expect(move(["a", "b", "c"], 2, -1)).toEqual(["a", "c", "b"]);
    expect(move(["a", "b", "c"], 0, 1)).toEqual(["b", "a", "c"]);
    expect(move(["a", "b", "c"], 0, -1)).toEqual(["a", "b", "c"]);
    expect(move(["a", "b", "c"], 2, 1)).toEqual(["a", "b", "c"]);
  });

  it("sends the list order as positions and leaves empty inputs to the API", () => {
    const added = { ...newStage(), name: " Demo ", probability: "40" };
    const draft = move([...fromStages(saved), added], 2, -1);
    expect(changed(draft, saved)).toBe(true);
    expect(toStagesIn(draft)).toEqual([
      { id: "a", name: "Lead", kind: "open", position: 0, archived: false, rotten_days: 30, probability: 10, forecast_category: "pipeline" },
      { name: "Demo", kind: "open", position: 1, archived: false, rotten_days: null, probability: 40 },
      { id: "b", name: "Won", kind: "won", position: 2, archived: false, rotten_days: null, probability: 100, forecast_category: "closed" },
    ]);
    expect(toStagesIn([newStage()])[0]).not.toHaveProperty("probability");
  });

  it("lets the API choose the category again when the kind changes", () => {
    const lead = fromStages(saved)[0];
    if (!lead) throw new Error("no stage");
    expect(change(lead, { kind: "lost" }).forecastCategory).toBe("");
    expect(change(lead, { name: "Qualified" }).forecastCategory).toBe("pipeline");
  });
});
