import { describe, expect, it } from "vitest";
import { headerOf, suggestField } from "./mapping";

describe("column mapping", () => {
  it("reads headers however they are written", () => {
    expect(suggestField("E-Mail")).toBe("email");
    expect(suggestField("First Name")).toBe("first_name");
    expect(suggestField("Nachname")).toBe("last_name");
    expect(suggestField("Favourite colour")).toBeNull();
  });

  it("splits the header row on its delimiter, quotes included", () => {
    expect(headerOf('\uFEFF"E-Mail","Name, full";Ignored')).toEqual(["E-Mail", "Name, full;Ignored"]);
    expect(headerOf("email;first_name;last_name\r")).toEqual(["email", "first_name", "last_name"]);
    expect(headerOf("a\tb")).toEqual(["a", "b"]);
  });
});
