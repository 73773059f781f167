import { fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { ConfirmButton } from "./ConfirmButton";
import { senderStatus } from "./mail/SendersSection";

describe("ConfirmButton", () => {
  it("asks first, and does it only on yes", () => {
    const done = vi.fn();
    render(<ConfirmButton label="Delete" name="Delete webhook A" question="Delete webhook A?" onConfirm={done} />);
    fireEvent.click(screen.getByRole("button", { name: "Delete webhook A" }));
    expect(done).not.toHaveBeenCalled();
    expect(document.activeElement).toBe(screen.getByRole("button", { name: "Yes, delete" }));
    fireEvent.click(screen.getByRole("button", { name: "Cancel" }));
    expect(done).not.toHaveBeenCalled();
    fireEvent.click(screen.getByRole("button", { name: "Delete webhook A" }));
    fireEvent.click(screen.getByRole("button", { name: "Yes, delete" }));
    expect(done).toHaveBeenCalledOnce();
  });
});

describe("senderStatus", () => {
  const now = new Date("2027-01-10T12:00:00Z");
  it("says whether the address confirmed its link", () => {
    expect(senderStatus({ verified: true }, now)).toBe("verified");
    expect(senderStatus({ verified: false, verification_expires_at: "2027-01-17T12:00:00Z" }, now)).toBe("unverified: link sent");
    expect(senderStatus({ verified: false, verification_expires_at: "2027-01-09T12:00:00Z" }, now)).toBe("unverified: the link expired");
  });
});
