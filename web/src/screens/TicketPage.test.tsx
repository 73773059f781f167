import { describe, expect, it } from "vitest";
import type { Message } from "../api/client";
import { authorOf } from "./TicketPage";

describe("authorOf", () => {
  it("prefers a name, then an address, then the kind of author", () => {
    expect(authorOf({ author: { name: "Ada", email: "ada@example.com", type: "agent" } } as Message)).toBe("Ada");
    expect(authorOf({ author: { name: null, email: "bob@example.com", type: "customer" } } as Message)).toBe("bob@example.com");
    expect(authorOf({ author: { name: null, email: null, type: "customer" } } as Message)).toBe("the customer");
    expect(authorOf({ author: { type: "agent" } } as Message)).toBe("an agent");
  });
});
