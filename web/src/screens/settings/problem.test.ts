import { describe, expect, it } from "vitest";
import { ApiProblem, errorsFor, errorsOf, messageOf } from "./problem";

describe("ApiProblem", () => {
  const problem = new ApiProblem({
    title: "Unprocessable", status: 422, detail: "Invalid fields.",
    errors: { time_zone: ["Unknown IANA time zone 'Mars/Base'."], "holidays.0.date": ["Not a valid date."] },
  });

  it("keeps the sentence and the field errors", () => {
    expect(problem.message).toContain("Invalid fields.");
    expect(problem.status).toBe(422);
    expect(errorsOf(problem)["time_zone"]).toEqual(["Unknown IANA time zone 'Mars/Base'."]);
  });

  it("collects a field's nested errors under it", () => {
    expect(errorsFor(errorsOf(problem), "holidays")).toEqual(["0.date: Not a valid date."]);
    expect(errorsFor(errorsOf(problem), "name")).toBeUndefined();
  });

  it("has no field errors for other failures", () => {
    expect(errorsOf(new Error("offline"))).toEqual({});
    expect(messageOf(new Error("offline"))).toBe("offline");
    expect(messageOf(null)).toBeNull();
  });
});
