import { describe, expect, it } from "vitest";
import { ApiError } from "../settings/problem";
import { newStep } from "./definition";
import { editorErrors, fieldErrors, placeOf, problemList, saveFailure, within } from "./workflowErrors";

const steps = [newStep("create_task", []), newStep("update_record", [])];
steps[0]!.step.id = "call";
steps[1]!.step.id = "tag";

describe("the API's errors on the editor", () => {
  it("takes a dry run's errors without their definition. prefix", () => {
    const e = new ApiError({ status: 422, errors: { "definition.steps.tag.fields.tagz": ["Unknown field."], record_ids: ["Name them."] } });
    expect(editorErrors(e)).toEqual({ "steps.tag.fields.tagz": ["Unknown field."], record_ids: ["Name them."] });
  });

  it("gives each step its own errors, the step as a whole under the empty name", () => {
    const errors = { "steps.tag.fields.tagz": ["Unknown field."], "steps.tag": ["Loops back."], "steps.tags.x": ["other step"] };
    expect(within(errors, "steps.tag")).toEqual({ "fields.tagz": ["Unknown field."], "": ["Loops back."] });
    expect(fieldErrors({ "users.0": ["Not a UUID."], users: ["Required."] }, "users")).toEqual(["0: Not a UUID.", "Required."]);
  });

  it("says where each problem is in words", () => {
    expect(placeOf("steps.tag.fields.tagz", steps)).toBe("Step 2 (tag, Update the record), fields.tagz");
    expect(placeOf("trigger.condition", steps)).toBe("Trigger, condition");
    expect(placeOf("steps.1.id", [steps[0]!, { ...steps[1]!, step: { ...steps[1]!.step, id: "" } }])).toBe("Step 2 (no id, Update the record), id");
    expect(problemList({ name: ["Required."] }, steps)).toEqual(["name: Required."]);
  });

  it("puts a 412 and a 403 in words", () => {
    expect(saveFailure(new ApiError({ status: 412, detail: "Precondition failed" }))).toMatch(/^Someone else changed this workflow/);
    expect(saveFailure(new ApiError({ status: 403 }))).toMatch(/^Only owners and admins can save workflows/);
    expect(saveFailure(new ApiError({ status: 422, detail: "The workflow has problems." }))).toBe("The workflow has problems.");
  });
});
