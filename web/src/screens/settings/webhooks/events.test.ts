import { describe, expect, it } from "vitest";
import { canRetry, parseEventTypes, stillDelivering } from "./events";

describe("webhook events", () => {
  it("splits event types on commas and spaces", () => {
    expect(parseEventTypes(" crm.contact.created,crm.deal.*  *, ")).toEqual(["crm.contact.created", "crm.deal.*", "*"]);
    expect(parseEventTypes("")).toEqual([]);
  });

  it("polls while a delivery is pending", () => {
    expect(stillDelivering([{ status: "succeeded" }, { status: "pending" }])).toBe(true);
    expect(stillDelivering([{ status: "failed" }])).toBe(false);
  });

  it("offers a retry for failed deliveries and failed attempts waiting", () => {
    expect(canRetry({ status: "failed", attempt_count: 20 })).toBe(true);
    expect(canRetry({ status: "pending", attempt_count: 1 })).toBe(true);
    expect(canRetry({ status: "pending", attempt_count: 0 })).toBe(false);
    expect(canRetry({ status: "succeeded", attempt_count: 1 })).toBe(false);
  });
});
