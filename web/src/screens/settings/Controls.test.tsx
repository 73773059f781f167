import { fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { ConfirmButton, SelectField } from "./Controls";

describe("ConfirmButton", () => {
  it("asks in the page before it acts, and can be cancelled", () => {
    const onConfirm = vi.fn();
    render(<ConfirmButton label="Delete" what="Budget" question="Delete Budget?" onConfirm={onConfirm} />);
    fireEvent.click(screen.getByRole("button", { name: "Delete Budget" }));
    expect(screen.getByRole("group", { name: "Confirm: Delete Budget" }).textContent).toContain("Delete Budget?");
    expect(document.activeElement).toBe(screen.getByRole("button", { name: "Yes, delete" }));
    fireEvent.click(screen.getByRole("button", { name: "Cancel" }));
    expect(onConfirm).not.toHaveBeenCalled();
    fireEvent.click(screen.getByRole("button", { name: "Delete Budget" }));
    fireEvent.click(screen.getByRole("button", { name: "Yes, delete" }));
    expect(onConfirm).toHaveBeenCalledOnce();
    expect(screen.getByRole("button", { name: "Delete Budget" })).toBeTruthy();
  });
});

describe("SelectField", () => {
  it("labels its select and ties its errors to it", () => {
    render(<SelectField label="Type" errors={["Not a type."]}><option>Text</option></SelectField>);
    const select = screen.getByLabelText("Type");
    expect(select.getAttribute("aria-invalid")).toBe("true");
    expect(document.getElementById(select.getAttribute("aria-describedby") ?? "")?.textContent).toBe("Not a type.");
  });
});
