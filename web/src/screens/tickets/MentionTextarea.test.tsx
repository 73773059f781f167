import { fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { describe, expect, it } from "vitest";
import { MentionTextarea } from "./MentionTextarea";
import type { Person } from "./mentions";

const PEOPLE: Person[] = [
  { id: "0190f1c2-0000-7000-8000-000000000001", name: "Grace Hopper", email: "grace@example.com" },
  { id: "0190f1c2-0000-7000-8000-000000000002", name: "Greta Garbo", email: "greta@example.com" },
];

function Box({ mentions = true }: { mentions?: boolean }) {
  const [text, setText] = useState("");
  return (
    <>
      <label htmlFor="t">Note</label>
      <MentionTextarea id="t" value={text} onChange={setText} people={PEOPLE} mentions={mentions} />
    </>
  );
}

function type(box: HTMLTextAreaElement, value: string) {
  fireEvent.change(box, { target: { value } }); // setting a value puts the caret at its end
}

describe("MentionTextarea", () => {
  it("lists matches after @, moves with the arrow keys and inserts the pick on Enter", () => {
    render(<Box />);
    const box = screen.getByLabelText<HTMLTextAreaElement>("Note");
    type(box, "Hi @gr");
    expect(screen.getAllByRole("option").map((o) => o.textContent)).toEqual(["Grace Hopper grace@example.com", "Greta Garbo greta@example.com"]);
    expect(box.getAttribute("aria-activedescendant")).toBe("t-person-0");
    fireEvent.keyDown(box, { key: "ArrowDown" });
    expect(box.getAttribute("aria-activedescendant")).toBe("t-person-1");
    fireEvent.keyDown(box, { key: "Enter" });
    expect(box.value).toBe(`Hi @[Greta Garbo](${PEOPLE[1]?.id ?? ""}) `);
    expect(screen.queryByRole("listbox")).toBeNull();
  });

  it("picks with a click, closes on Escape, and suggests nothing in a public reply", () => {
    const { unmount } = render(<Box />);
    const box = screen.getByLabelText<HTMLTextAreaElement>("Note");
    type(box, "@grace");
    fireEvent.click(screen.getByRole("option", { name: /Grace Hopper/ }));
    expect(box.value).toBe(`@[Grace Hopper](${PEOPLE[0]?.id ?? ""}) `);
    type(box, "@gr");
    fireEvent.keyDown(box, { key: "Escape" });
    expect(screen.queryByRole("listbox")).toBeNull();
    unmount();
    render(<Box mentions={false} />);
    type(screen.getByLabelText<HTMLTextAreaElement>("Note"), "@gr");
    expect(screen.queryByRole("listbox")).toBeNull();
  });
});
