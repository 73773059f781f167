import { describe, expect, it } from "vitest";
import {
  bodyOf, draftOf, draftOfJson, eventPhrase, freeId, parseIds, parseList, parseNumber, parseValue, recordPath, triggerSummary, valueText, withStepType,
  withTriggerType,
} from "./definition";

describe("triggerSummary", () => {
  it("says in one line when a workflow starts", () => {
    expect(triggerSummary({ type: "event", event: "crm.contact.created", condition: "lifecycle_stage = 'lead'" }))
      .toBe("When a contact is created · lifecycle_stage = 'lead'");
    expect(triggerSummary({ type: "event", event: "crm.deal.updated", changed_to: { status: "won" }, exclude_sources: ["import"] }))
      .toBe("When a deal is updated · status changed to \"won\" · not for changes by import");
    expect(triggerSummary({ type: "schedule", cron: "0 9 * * 1", timezone: "Europe/Berlin", record_type: "company" }))
      .toBe("On schedule 0 9 * * 1 (Europe/Berlin), each company");
    expect(triggerSummary({ type: "manual", record_type: "contact" })).toBe("Started by hand on contacts");
    expect(triggerSummary({ type: "webhook" })).toBe("When its webhook URL is called");
  });

  it("names events it knows, and any other by its type", () => {
    expect(eventPhrase("crm.activity.created")).toBe("an activity is created");
    expect(eventPhrase("crm.deal.stage_changed")).toBe("a deal changes stage");
    expect(eventPhrase("crm.thing.exploded")).toBe("crm.thing.exploded happens");
  });
});

describe("values typed in boxes", () => {
  it("reads JSON where it is JSON and text otherwise, and writes back what reads the same", () => {
    expect(parseValue('["called-workflow"]')).toEqual(["called-workflow"]);
    expect(parseValue("10")).toBe(10);
    expect(parseValue("Call {{ record.first_name }}")).toBe("Call {{ record.first_name }}");
    for (const value of ["lead", "10", '"quoted"', 10, true, ["a"], { a: 1 }]) expect(parseValue(valueText(value))).toEqual(value);
  });

  it("splits lists on commas (a tag may have spaces) and ids on spaces too", () => {
    expect(parseList("vip, {{ record.country }},\n big deal ,")).toEqual(["vip", "{{ record.country }}", "big deal"]);
    expect(parseIds("c1 c2,c3\nc4")).toEqual(["c1", "c2", "c3", "c4"]);
  });

  it("sends whole numbers as numbers and anything else as typed (the API names it)", () => {
    expect(parseNumber(" 1 ")).toBe(1);
    expect(parseNumber("")).toBeUndefined();
    expect(parseNumber("1.5")).toBe("1.5");
  });
});

describe("drafts", () => {
  const saved = {
    id: "w1", name: "Call new leads", enabled: true, version: 3,
    trigger: { type: "event", event: "crm.contact.created", condition: "lifecycle_stage = 'lead'" },
    steps: [{ id: "call", type: "create_task", title: "Call {{ record.first_name }}", due_in_days: 1, custom: "kept" }],
  };

  it("gives back the definition it was made from, fields no form knows included", () => {
    expect(bodyOf(draftOf(saved))).toEqual({ name: saved.name, enabled: true, trigger: saved.trigger, steps: saved.steps });
    expect(bodyOf(draftOfJson(JSON.stringify(bodyOf(draftOf(saved)))))).toEqual(bodyOf(draftOf(saved)));
  });

  it("says what is wrong with raw JSON", () => {
    expect(() => draftOfJson("{")).toThrow(/Not valid JSON/);
    expect(() => draftOfJson('{"name": "x", "trigger": {}, "steps": {}}')).toThrow(/"steps" is a list/);
  });

  it("keeps only the fields of a new trigger type, and a step's id and jump on a new type", () => {
    expect(withTriggerType({ type: "event", event: "crm.deal.updated", condition: "x", exclude_sources: ["api"] }, "manual"))
      .toEqual({ type: "manual", record_type: "contact", exclude_sources: ["api"] });
    expect(withStepType({ id: "a", type: "create_task", title: "T", next: "end" }, "add_tags")).toEqual({ id: "a", type: "add_tags", next: "end", tags: [] });
    expect(freeId("delay", ["delay", "delay_2"])).toBe("delay_3");
  });

  it("links a run's record to its page", () => {
    expect(recordPath("company", "c1")).toBe("/companies/c1");
    expect(recordPath(null, "x")).toBeNull();
  });
});
