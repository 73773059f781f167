import { describe, expect, it } from "vitest";
import type { Contact } from "../../api/client";
import { linkedFilter } from "../company/CompanyContacts";
import { confirmsErase, erasePhrase, mayHandlePersonalData } from "./gdpr";

describe("GDPR actions", () => {
  it("are for owners and admins only", () => {
    expect(mayHandlePersonalData(["owner"])).toBe(true);
    expect(mayHandlePersonalData(["member", "admin"])).toBe(true);
    expect(mayHandlePersonalData(["member"])).toBe(false);
    expect(mayHandlePersonalData(undefined)).toBe(false);
  });

  it("confirm an erasure with the email, else the name", () => {
    expect(erasePhrase({ email: "ada@example.com", first_name: "Ada" } as Contact)).toBe("ada@example.com");
    expect(erasePhrase({ email: null, first_name: "Ada", last_name: "Lovelace" } as Contact)).toBe("Ada Lovelace");
    expect(confirmsErase(" ADA@example.com ", "ada@example.com")).toBe(true);
    expect(confirmsErase("ada@", "ada@example.com")).toBe(false);
    expect(confirmsErase("", "")).toBe(false);
  });
});

describe("a company's contacts", () => {
  it("are found through any of their company links, quotes escaped", () => {
    expect(linkedFilter("abc")).toBe("company_ids contains 'abc'");
    expect(linkedFilter("a'b")).toBe("company_ids contains 'a''b'");
  });
});
