import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../settings/problem";
import type { Workflow } from "./definition";
import { WorkflowEditor } from "./WorkflowEditor";

const create = vi.fn();
const update = vi.fn();
const test = vi.fn();
vi.mock("./workflowsApi", () => ({
  createWorkflow: (...args: unknown[]) => create(...args),
  updateWorkflow: (...args: unknown[]) => update(...args),
  testWorkflow: (...args: unknown[]) => test(...args),
  useWorkflows: () => ({ data: { pages: [{ data: [{ id: "w2", name: "Welcome" }] }] } }),
  useVersions: () => ({ data: [{ number: 1, definition: { trigger: { type: "manual", record_type: "deal" }, steps: [{ id: "old", type: "create_task", title: "Old" }] } }] }),
}));
vi.mock("../../api/directory", () => ({
  useDirectory: () => ({ data: [{ id: "u1", name: "Grace Hopper", email: "grace@example.com" }], isPending: false }),
}));
vi.mock("../settings/pipelinesApi", () => ({ usePipelines: () => ({ data: [] }) }));

const EXAMPLE: Workflow = {
  id: "w1", name: "Call new leads", enabled: true, version: 4, version_number: 2,
  trigger: { type: "event", event: "crm.contact.created", condition: "lifecycle_stage = 'lead'" },
  steps: [
    { id: "call", type: "create_task", title: "Call {{ record.first_name }}", due_in_days: 1 },
    { id: "wait", type: "delay", minutes: 1 },
    { id: "tag", type: "update_record", fields: { tagz: ["called-workflow"] } },
  ],
};

function renderEditor(workflow: Workflow | null, reload = vi.fn()) {
  render(
    <QueryClientProvider client={new QueryClient()}>
      <MemoryRouter>
        <WorkflowEditor workflow={workflow} canSave onSaved={vi.fn()} reload={reload} />
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

function describedBy(element: HTMLElement): string {
  return (element.getAttribute("aria-describedby") ?? "").split(" ").map((id) => document.getElementById(id)?.textContent ?? "").join(" ");
}

afterEach(() => {
  cleanup();
  vi.clearAllMocks();
});

describe("WorkflowEditor", () => {
  it("shows each 422 message beside its step's field or the trigger's, and every one at the top", async () => {
    update.mockRejectedValueOnce(new ApiError({
      status: 422, detail: "The workflow has problems; each is named by where it is.",
      errors: {
        "steps.tag.fields.tagz": ["Unknown field."], "trigger.condition": ["Unknown field 'favourite_colour'."],
        "steps.wait.minutes": ["Must be greater than or equal to 0."], "steps.call": ["No path reaches this step."],
      },
    }));
    renderEditor(EXAMPLE);
    fireEvent.click(screen.getByRole("button", { name: "Save workflow" }));
    const tag = screen.getByRole("group", { name: "Step 3: Update the record" });
    await waitFor(() => expect(within(tag).getByLabelText("Field 1 name").getAttribute("aria-invalid")).toBe("true"));
    expect(describedBy(within(tag).getByLabelText("Field 1 name"))).toBe("Unknown field.");
    expect(within(tag).getByLabelText("Field 1 value").getAttribute("aria-invalid")).toBe("false");
    const wait = screen.getByRole("group", { name: "Step 2: Delay" });
    expect(describedBy(within(wait).getByLabelText("Number of minutes"))).toBe("Must be greater than or equal to 0.");
    expect(within(screen.getByRole("group", { name: "Step 1: Create a task" })).getByText("No path reaches this step.")).toBeTruthy();
    const condition = within(screen.getByRole("group", { name: "Trigger" })).getByLabelText(/^Condition/);
    expect(describedBy(condition)).toContain("Unknown field 'favourite_colour'.");
    const summary = screen.getByRole("alert");
    expect(summary.textContent).toContain("The workflow has problems");
    expect(within(summary).getAllByRole("listitem").map((li) => li.textContent)).toEqual([
      "Step 3 (tag, Update the record), fields.tagz: Unknown field.",
      "Trigger, condition: Unknown field 'favourite_colour'.",
      "Step 2 (wait, Delay), minutes: Must be greater than or equal to 0.",
      "Step 1 (call, Create a task): No path reaches this step.",
    ]);
    // The save was a PATCH of the version read, with the definition as it stands
    const [id, version, body] = update.mock.calls[0] as [string, number, { steps: unknown[]; trigger: unknown }];
    expect([id, version]).toEqual(["w1", 4]);
    expect(body.steps).toEqual(EXAMPLE.steps);
    expect(body.trigger).toEqual(EXAMPLE.trigger);
  });

  it("says so when someone else saved first, and loads their version on request", async () => {
    update.mockRejectedValueOnce(new ApiError({ status: 412, detail: "The workflow was changed since you read it." }));
    const reload = vi.fn().mockResolvedValue({ ...EXAMPLE, name: "Their name", version: 5 });
    renderEditor(EXAMPLE, reload);
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "My name" } });
    fireEvent.click(screen.getByRole("button", { name: "Save workflow" }));
    await waitFor(() => expect(screen.getByRole("alert").textContent).toMatch(/^Someone else changed this workflow/));
    fireEvent.click(screen.getByRole("button", { name: "Load their version (drops your changes)" }));
    await waitFor(() => expect((screen.getByLabelText("Name") as HTMLInputElement).value).toBe("Their name"));
    update.mockResolvedValueOnce({ ...EXAMPLE, name: "Their name", version: 6 });
    fireEvent.click(screen.getByRole("button", { name: "Save workflow" }));
    await waitFor(() => expect(update).toHaveBeenCalledTimes(2));
    expect(update.mock.calls[1]?.[1]).toBe(5); // If-Match: the version loaded
  });

  it("tells a member that only owners and admins save", async () => {
    update.mockRejectedValueOnce(new ApiError({ status: 403, detail: "Only owners and admins (or an API key with the 'admin' scope) may do this." }));
    renderEditor(EXAMPLE);
    fireEvent.click(screen.getByRole("button", { name: "Save workflow" }));
    await waitFor(() => expect(screen.getByRole("alert").textContent).toMatch(/^Only owners and admins can save workflows/));
  });

  it("adds steps by type with their own fields, and reorders them with buttons that keep the focus", async () => {
    create.mockResolvedValueOnce({ ...EXAMPLE, id: "w9" });
    renderEditor(null);
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "Welcome mail" } });
    fireEvent.change(screen.getByLabelText("New step type"), { target: { value: "send_email" } });
    fireEvent.click(screen.getByRole("button", { name: "Add the step" }));
    const mail = screen.getByRole("group", { name: "Step 1: Send an email" });
    expect(document.activeElement?.contains(mail)).toBe(true); // the new step has the focus
    fireEvent.change(within(mail).getByLabelText("Subject"), { target: { value: "Welcome, {{ record.first_name }}" } });
    fireEvent.change(within(mail).getByLabelText("Body (text)"), { target: { value: "Hello!" } });
    fireEvent.change(within(mail).getByLabelText("Purpose"), { target: { value: "transactional" } });
    fireEvent.change(screen.getByLabelText("New step type"), { target: { value: "delay" } });
    fireEvent.click(screen.getByRole("button", { name: "Add the step" }));
    const delay = screen.getByRole("group", { name: "Step 2: Delay" });
    fireEvent.change(within(delay).getByLabelText("Wait"), { target: { value: "days" } });
    fireEvent.change(within(delay).getByLabelText("Number of days"), { target: { value: "2" } });
    fireEvent.click(within(delay).getByRole("checkbox", { name: "Count business hours only" }));
    fireEvent.click(screen.getByRole("button", { name: "Move step 2 (delay) up" }));
    // At the top now: the keyboard is on its other button
    expect(document.activeElement).toBe(screen.getByRole("button", { name: "Move step 1 (delay) down" }));
    fireEvent.change(screen.getByLabelText("New step type"), { target: { value: "update_record" } });
    fireEvent.click(screen.getByRole("button", { name: "Add the step" }));
    const update3 = screen.getByRole("group", { name: "Step 3: Update the record" });
    fireEvent.click(within(update3).getByRole("button", { name: "Add a field" }));
    fireEvent.change(within(update3).getByLabelText("Field 1 name"), { target: { value: "tags" } });
    fireEvent.change(within(update3).getByLabelText("Field 1 value"), { target: { value: '["welcomed"]' } });
    fireEvent.click(within(update3).getByRole("button", { name: "Add a field" }));
    fireEvent.change(within(update3).getByLabelText("Field 2 name"), { target: { value: "lead_score" } });
    fireEvent.change(within(update3).getByLabelText("Field 2 value"), { target: { value: "10" } });
    fireEvent.change(within(update3).getByLabelText("Then go to"), { target: { value: "end" } });
    // A step added and removed again: the keyboard lands on the step before it
    fireEvent.click(screen.getByRole("button", { name: "Add the step" }));
    fireEvent.click(screen.getByRole("button", { name: "Remove step 4 (update_record_2)" }));
    expect(document.activeElement?.contains(update3)).toBe(true);
    fireEvent.click(screen.getByRole("button", { name: "Save workflow" }));
    await waitFor(() => expect(create).toHaveBeenCalledOnce());
    const [body] = create.mock.calls[0] as [{ name: string; steps: unknown[] }];
    expect(body.name).toBe("Welcome mail");
    expect(body.steps).toEqual([
      { id: "delay", type: "delay", days: 2, business_hours: true },
      { id: "send_email", type: "send_email", to: "record", subject: "Welcome, {{ record.first_name }}", body: "Hello!", purpose: "transactional" },
      { id: "update_record", type: "update_record", fields: { tags: ["welcomed"], lead_score: 10 }, next: "end" },
    ]);
  });

  it("changes a trigger's fields with its type, and edits the whole definition as raw JSON", () => {
    renderEditor(EXAMPLE);
    const trigger = screen.getByRole("group", { name: "Trigger" });
    fireEvent.click(within(trigger).getByRole("checkbox", { name: "a CSV import" }));
    fireEvent.change(within(trigger).getByLabelText("Starts"), { target: { value: "manual" } });
    expect(within(trigger).queryByLabelText(/^Condition/)).toBeNull();
    expect((within(trigger).getByLabelText("Record type") as HTMLSelectElement).value).toBe("contact");
    fireEvent.click(screen.getByRole("button", { name: "Edit as raw JSON" }));
    const raw = screen.getByLabelText(/^The workflow as JSON/) as HTMLTextAreaElement;
    const parsed = JSON.parse(raw.value) as { trigger: unknown; steps: unknown[] };
    expect(parsed.trigger).toEqual({ type: "manual", record_type: "contact", exclude_sources: ["import"] });
    fireEvent.change(raw, { target: { value: "{ not json" } });
    fireEvent.click(screen.getByRole("button", { name: "Edit as raw JSON" }));
    expect(describedBy(screen.getByLabelText(/^The workflow as JSON/))).toMatch(/^Not valid JSON/);
    fireEvent.change(raw, { target: { value: JSON.stringify({ ...parsed, name: "Renamed", steps: [{ id: "only", type: "add_tags", tags: ["a", "b"] }] }) } });
    fireEvent.click(screen.getByRole("button", { name: "Edit as raw JSON" }));
    expect((screen.getByLabelText("Name") as HTMLInputElement).value).toBe("Renamed");
    const only = screen.getByRole("group", { name: "Step 1: Add tags" });
    expect((within(only).getByLabelText(/^Tags/) as HTMLInputElement).value).toBe("a, b");
  });

  it("puts an earlier version's trigger and steps in the form", () => {
    renderEditor(EXAMPLE);
    fireEvent.click(screen.getByText("Earlier versions of the definition"));
    fireEvent.click(screen.getByRole("button", { name: "Put version 1 in the form" }));
    expect((screen.getByLabelText("Task title") as HTMLInputElement).value).toBe("Old");
    expect((within(screen.getByRole("group", { name: "Trigger" })).getByLabelText("Record type") as HTMLSelectElement).value).toBe("deal");
    expect((screen.getByLabelText("Name") as HTMLInputElement).value).toBe("Call new leads");
  });

  it("tests the form's definition, unsaved, and shows what each step would do", async () => {
    test.mockResolvedValueOnce([{ record_id: "c1", steps: [
      { step_id: "call", type: "create_task", would: { task: { title: "Call Ada" } } },
      { step_id: "wait", type: "delay", would_wait_until: "2027-01-01T10:00:00Z" },
      { step_id: "tag", type: "update_record", error: "No field tagz." },
    ] }]);
    renderEditor(EXAMPLE);
    fireEvent.change(screen.getByLabelText(/^Number of minutes/), { target: { value: "5" } });
    fireEvent.change(screen.getByLabelText(/^Contact ids to test on/), { target: { value: "c1, c2" } });
    fireEvent.click(screen.getByRole("button", { name: "Run the test" }));
    const results = await screen.findByRole("list", { name: "Dry run results" });
    const [id, ids, definition] = test.mock.calls[0] as [string, string[], { steps: { minutes?: number }[] }];
    expect([id, ids, definition.steps[1]?.minutes]).toEqual(["w1", ["c1", "c2"], 5]);
    expect(within(results).getByRole("link", { name: "contact c1" }).getAttribute("href")).toBe("/contacts/c1");
    expect(results.textContent).toContain("Call Ada");
    expect(results.textContent).toContain("would wait until");
    expect(results.textContent).toContain("Error: No field tagz.");
  });
});
