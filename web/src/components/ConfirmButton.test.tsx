import { fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { ConfirmButton } from "./ConfirmButton";

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

  it("takes a whole accessible name too", () => {
    const done = vi.fn();
    render(<ConfirmButton label="Delete" name="Delete the webhook to A" question="Delete it?" onConfirm={done} />);
    fireEvent.click(screen.getByRole("button", { name: "Delete the webhook to A" }));
    fireEvent.click(screen.getByRole("button", { name: "Yes, delete" }));
    expect(done).toHaveBeenCalledOnce();
  });
});
