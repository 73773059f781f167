import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ColumnPicker } from "./ColumnPicker";
import type { Column, RecordRow } from "./types";

const col = (key: string, label: string): Column<RecordRow> => ({ key, label, render: () => key });
const AVAILABLE = [col("name", "Name"), col("email", "Email"), col("plan", "Plan")];

afterEach(cleanup);

describe("ColumnPicker", () => {
  it("shows a column where it belongs and hides one, never the last", () => {
    const onChange = vi.fn();
    render(<ColumnPicker available={AVAILABLE} chosen={["plan"]} onChange={onChange} onReset={() => undefined} />);
    const plan = screen.getByLabelText("Plan column") as HTMLInputElement;
    expect(plan.checked).toBe(true);
    expect(plan.disabled).toBe(true); // the only column left
    fireEvent.click(screen.getByLabelText("Name column"));
    expect(onChange).toHaveBeenLastCalledWith(["name", "plan"]);
    expect((screen.getByLabelText("Name column") as HTMLInputElement).checked).toBe(true); // at once, before the URL catches up
    fireEvent.click(screen.getByLabelText("Plan column"));
    expect(onChange).toHaveBeenLastCalledWith(["name"]);
  });
});
