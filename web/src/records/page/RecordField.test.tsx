import type { ReactNode } from "react";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RecordField } from "./RecordField";
import type { FieldSpec } from "./types";
import { Conflict } from "./useRecordSave";

interface Rec { plan: string | null; seats: number | null }
type Body = Partial<Rec>;

const plan: FieldSpec<Rec, Body> = { key: "plan", label: "Plan", kind: "select", options: ["free", "pro"], read: (r) => r.plan, body: (v) => ({ plan: v as string }) };
const seats: FieldSpec<Rec, Body> = { key: "seats", label: "Seats", kind: "number", read: (r) => r.seats, body: (v) => ({ seats: v as number }) };

function inDl(node: ReactNode) {
  return render(<dl>{node}</dl>);
}

afterEach(cleanup);

describe("RecordField", () => {
  it("edits a select field in place and saves the chosen option", async () => {
    const save = vi.fn().mockResolvedValue(undefined);
    inDl(<RecordField spec={plan} record={{ plan: null, seats: null }} save={save} />);
    fireEvent.click(screen.getByRole("button", { name: "Edit Plan: empty" }));
    fireEvent.change(screen.getByRole("combobox", { name: "Plan" }), { target: { value: "pro" } });
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(save).toHaveBeenCalledWith(plan, "pro"));
    await waitFor(() => expect(screen.queryByRole("combobox")).toBeNull());
  });

  it("clears the value when the input is emptied", () => {
    const save = vi.fn();
    inDl(<RecordField spec={seats} record={{ plan: null, seats: 3 }} save={save} />);
    fireEvent.click(screen.getByRole("button", { name: "Edit Seats: 3" }));
    fireEvent.change(screen.getByRole("spinbutton", { name: "Seats" }), { target: { value: "" } });
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    expect(save).toHaveBeenCalledWith(seats, null); // empty clears
  });

  it("closes the editor on a conflict and keeps the message", async () => {
    const save = vi.fn().mockRejectedValue(new Conflict("Someone else changed this contact first: Seats is now “5”."));
    inDl(<RecordField spec={seats} record={{ plan: null, seats: 5 }} save={save} />);
    fireEvent.click(screen.getByRole("button", { name: "Edit Seats: 5" }));
    fireEvent.change(screen.getByRole("spinbutton", { name: "Seats" }), { target: { value: "4" } });
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    expect((await screen.findByRole("alert")).textContent).toContain("Seats is now “5”");
    expect(screen.getByRole("button", { name: "Edit Seats: 5" })).toBeTruthy();
  });
});
