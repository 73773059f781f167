import { describe, expect, it } from "vitest";
import { senderStatus } from "./SendersSection";

describe("senderStatus", () => {
  const now = new Date("2027-01-10T12:00:00Z");
  it("says whether the address confirmed its link", () => {
    expect(senderStatus({ verified: true }, now)).toBe("verified");
    expect(senderStatus({ verified: false, verification_expires_at: "2027-01-17T12:00:00Z" }, now)).toBe("unverified: link sent");
    expect(senderStatus({ verified: false, verification_expires_at: "2027-01-09T12:00:00Z" }, now)).toBe("unverified: the link expired");
  });
});
