import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MergePanel } from "./MergePanel";
import type { FieldSpec, MergeAdapter } from "./types";

interface Rec { id: string; email: string | null; phone: string | null }
const adapter: MergeAdapter<Rec> = {
  noun: "contact", nameOf: (r) => r.email ?? r.id, linkOf: (id) => `/contacts/${id}`,
  duplicates: vi.fn(), merge: vi.fn(), unmerge: vi.fn(),
};
const spec = (key: "email" | "phone"): FieldSpec<Rec, unknown> => ({ key, label: key === "email" ? "Email" : "Phone", kind: "text", mergeKey: key, read: (r) => r[key], body: () => ({}) });
const mine: Rec = { id: "a", email: "ada@x.com", phone: null };
const theirs: Rec = { id: "b", email: "al@x.com", phone: "+44" };

afterEach(cleanup);

describe("MergePanel", () => {
  it("merges the other into this one, taking the values picked from the other", () => {
    const onMerge = vi.fn();
    render(<MergePanel adapter={adapter} record={mine} other={theirs} compare={[spec("email"), spec("phone")]} onMerge={onMerge} onCancel={vi.fn()} pending={false} />);
    expect(screen.queryByRole("radio", { name: /Keep Phone/ })).toBeNull();
    fireEvent.click(screen.getByRole("radio", { name: "Keep Email: al@x.com" }));
    fireEvent.click(screen.getByRole("button", { name: "Merge the two contacts" }));
    expect(onMerge).toHaveBeenCalledWith("a", "b", ["email"]);
  });

  it("keeps the other record when chosen, with its own values by default", () => {
    const onMerge = vi.fn();
    render(<MergePanel adapter={adapter} record={mine} other={theirs} compare={[spec("email"), spec("phone")]} onMerge={onMerge} onCancel={vi.fn()} pending={false} />);
    fireEvent.click(screen.getByRole("radio", { name: /^The other/ }));
    expect((screen.getByRole("radio", { name: "Keep Email: al@x.com" }) as HTMLInputElement).checked).toBe(true);
    fireEvent.click(screen.getByRole("button", { name: "Merge the two contacts" }));
    expect(onMerge).toHaveBeenCalledWith("b", "a", []);
  });
});
