import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { afterEach, describe, expect, it } from "vitest";
import type { FilterField } from "../filter/filterText";
import { FilterBuilder } from "./FilterBuilder";

const FIELDS: FilterField[] = [
  { key: "email", label: "Email", type: "email" },
  { key: "lifecycle_stage", label: "Stage", type: "enum", options: ["lead", "customer"] },
  { key: "lead_score", label: "Score", type: "number" },
];

function Harness({ initial }: { initial: string }) {
  const [text, setText] = useState(initial);
  return (
    <>
      <label htmlFor="raw">Raw</label>
      <input id="raw" value={text} onChange={(e) => setText(e.currentTarget.value)} />
      <FilterBuilder text={text} fields={FIELDS} onChange={setText} />
    </>
  );
}

const raw = () => (screen.getByLabelText("Raw") as HTMLInputElement).value;

afterEach(cleanup);

describe("FilterBuilder", () => {
  it("shows parsed text as rows and writes the text as rows change", () => {
    render(<Harness initial="lifecycle_stage = 'lead' or lead_score > 5" />);
    expect((screen.getByLabelText("Field 1") as HTMLSelectElement).value).toBe("lifecycle_stage");
    expect((screen.getByLabelText("Value 1") as HTMLSelectElement).value).toBe("lead");
    expect((screen.getByLabelText("Value 2") as HTMLInputElement).value).toBe("5");
    fireEvent.change(screen.getByLabelText("Value 2"), { target: { value: "50" } });
    expect(raw()).toBe("lifecycle_stage = 'lead' or lead_score > 50");
    fireEvent.click(screen.getByRole("button", { name: "Remove condition 1" }));
    expect(raw()).toBe("lead_score > 50");
  });

  it("keeps an unfinished row without writing it, and says why", () => {
    render(<Harness initial="" />);
    fireEvent.click(screen.getByRole("button", { name: "Add condition" }));
    expect(raw()).toBe("");
    expect(screen.getByText(/Not applied yet: Email: the value is empty/)).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Value 1"), { target: { value: "O'Hara" } });
    expect(raw()).toBe("email contains 'O''Hara'"); // text fields start at "contains"
    fireEvent.change(screen.getByLabelText("Operator 1"), { target: { value: "is null" } });
    expect(raw()).toBe("email is null");
    expect(screen.queryByLabelText("Value 1")).toBeNull();
  });

  it("changing the field resets an operator the new field does not take", () => {
    render(<Harness initial="email contains 'acme'" />);
    fireEvent.change(screen.getByLabelText("Field 1"), { target: { value: "lead_score" } });
    expect((screen.getByLabelText("Operator 1") as HTMLSelectElement).value).toBe("=");
    fireEvent.change(screen.getByLabelText("Value 1"), { target: { value: "3" } });
    expect(raw()).toBe("lead_score = 3");
  });

  it("says when it can only show the raw text, and can start over", () => {
    render(<Harness initial="not (email is null)" />);
    expect(screen.getByText(/The builder can only show the raw text of this filter: it uses 'not'/)).toBeTruthy();
    expect(raw()).toBe("not (email is null)"); // left alone until the user starts over
    fireEvent.change(screen.getByLabelText("Raw"), { target: { value: "email = 'a@b.c'" } });
    expect((screen.getByLabelText("Value 1") as HTMLInputElement).value).toBe("a@b.c");
  });
});
