import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import type { Pipeline } from "../../api/client";
import { ApiError } from "./problem";
import { StageEditor } from "./StageEditor";

const update = vi.fn();
vi.mock("./pipelinesApi", () => ({ updatePipeline: (...args: unknown[]) => update(...args), deleteStage: vi.fn() }));

const pipeline: Pipeline = {
  id: "p", name: "Sales", version: 3, is_default: true,
  stages: [
    { id: "s1", name: "Lead", probability: 10, kind: "open", position: 0, forecast_category: "pipeline", rotten_days: null, archived: false },
    { id: "s2", name: "Demo", probability: 40, kind: "open", position: 1, forecast_category: "pipeline", rotten_days: null, archived: false },
    { id: "s3", name: "Won", probability: 100, kind: "won", position: 2, forecast_category: "closed", rotten_days: null, archived: false },
  ],
};

describe("StageEditor", () => {
  it("reorders with buttons, sends the whole list in order and shows each error on its stage's field", async () => {
    update.mockRejectedValueOnce(new ApiError({ status: 422, detail: "The request has invalid fields.",
      errors: { "stages.0.probability": ["Must be between 0 and 100."] } }));
    render(
      <QueryClientProvider client={new QueryClient()}>
        <StageEditor pipeline={pipeline} onSaved={vi.fn()} onNotice={vi.fn()} />
      </QueryClientProvider>,
    );
    const save = screen.getByRole("button", { name: "Save the stages" }) as HTMLButtonElement;
    expect(save.disabled).toBe(true); // nothing changed yet
    fireEvent.click(screen.getByRole("button", { name: "Move stage 2 (Demo) up" }));
    expect(document.activeElement).toBe(screen.getByRole("button", { name: "Move stage 1 (Demo) down" })); // at the top: the other button
    const first = screen.getByRole("group", { name: "Stage 1" });
    fireEvent.change(within(first).getByLabelText("Probability (%)"), { target: { value: "140" } });
    fireEvent.click(save);
    await waitFor(() => expect(within(first).getByLabelText("Probability (%)").getAttribute("aria-invalid")).toBe("true"));
    const [sent, body] = update.mock.calls[0] as [Pipeline, { stages: { id?: string; position: number; probability?: number }[] }];
    expect(sent.version).toBe(3);
    expect(body.stages.map((s) => [s.id, s.position, s.probability])).toEqual([["s2", 0, 140], ["s1", 1, 10], ["s3", 2, 100]]);
    expect(within(first).getByText("Must be between 0 and 100.")).toBeTruthy();
    expect(screen.getByRole("alert").textContent).toBe("The request has invalid fields.");
  });
});
