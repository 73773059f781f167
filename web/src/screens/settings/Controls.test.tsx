import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { SelectField } from "./Controls";

describe("SelectField", () => {
  it("labels its select and ties its errors to it", () => {
    render(<SelectField label="Type" errors={["Not a type."]}><option>Text</option></SelectField>);
    const select = screen.getByLabelText("Type");
    expect(select.getAttribute("aria-invalid")).toBe("true");
    expect(document.getElementById(select.getAttribute("aria-describedby") ?? "")?.textContent).toBe("Not a type.");
  });
});
