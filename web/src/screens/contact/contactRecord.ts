// The contact as the record page shell sees it: its fields, its If-Match PATCH, its duplicates and merges.
import { api, type Contact, describe, etag, type Schemas } from "../../api/client";
import { RecordMissing } from "../../records/page/RecordPage";
import type { FieldSpec, MergeAdapter, PatchResult, RecordAdapter } from "../../records/page/types";

export type ContactIn = Schemas["ContactIn"];

/** The record a 412 answer carries as `current` (the API's problem body has it; the shared Problem
 * schema does not name it). */
export function currentOf<R>(problem: unknown): R | null {
  if (typeof problem !== "object" || problem === null || !("current" in problem)) return null;
  const current = (problem as { current: unknown }).current;
  return typeof current === "object" && current !== null ? (current as R) : null;
}

export function contactName(c: Contact): string {
  return [c.first_name, c.last_name].filter(Boolean).join(" ") || c.email || "Unnamed contact";
}

export function contactKey(id: string) {
  return ["contact", id];
}

export async function getContact(id: string): Promise<Contact> {
  const { data, error, response } = await api.GET("/v1/contacts/{record_id}", { params: { path: { record_id: id } } });
  if (response.status === 404) throw new RecordMissing("There is no such contact.");
  if (response.status === 410) throw new RecordMissing("This contact was erased.");
  if (error) throw new Error(describe(error));
  return data;
}

export const contactAdapter: RecordAdapter<Contact, ContactIn> = {
  noun: "contact",
  async patch(record, body): Promise<PatchResult<Contact>> {
    const id = record.id ?? "";
    const { data, error, response } = await api.PATCH("/v1/contacts/{record_id}", {
      params: { path: { record_id: id }, header: { "If-Match": etag(record.version) } },
      body,
    });
    if (response.status === 412) return { conflict: currentOf<Contact>(error) ?? (await getContact(id)) };
    if (error) return { error: describe(error) };
    return { record: data };
  },
};

const STAGES: NonNullable<Contact["lifecycle_stage"]>[] = [
  "subscriber", "lead", "marketing_qualified", "sales_qualified", "opportunity", "customer", "evangelist", "other",
];
const STATUSES: NonNullable<Contact["lead_status"]>[] = [
  "new", "open", "in_progress", "attempted_to_contact", "connected", "open_deal", "unqualified", "bad_timing",
];

type Key = "first_name" | "last_name" | "email" | "phone" | "lifecycle_stage" | "lead_status";

function standard(key: Key, label: string, kind: FieldSpec<Contact, ContactIn>["kind"], options?: readonly string[]): FieldSpec<Contact, ContactIn> {
  return { key, label, kind, options, mergeKey: key, read: (c) => c[key], body: (value) => ({ [key]: value }) as ContactIn };
}

export const CONTACT_FIELDS: FieldSpec<Contact, ContactIn>[] = [
  standard("first_name", "First name", "text"),
  standard("last_name", "Last name", "text"),
  standard("email", "Email", "email"),
  standard("phone", "Phone", "tel"),
  standard("lifecycle_stage", "Stage", "select", STAGES),
  standard("lead_status", "Lead status", "select", STATUSES),
];

export const contactMerge: MergeAdapter<Contact> = {
  noun: "contact",
  nameOf: (c) => (c.email && contactName(c) !== c.email ? `${contactName(c)} (${c.email})` : contactName(c)),
  linkOf: (id) => `/contacts/${id}`,
  async duplicates(id) {
    const { data, error } = await api.GET("/v1/contacts/{record_id}/duplicates", { params: { path: { record_id: id } } });
    if (error) throw new Error(describe(error));
    return (data.data ?? []).flatMap((d) => (d.contact ? [{ record: d.contact, score: d.score ?? 0, reasons: d.reasons ?? [] }] : []));
  },
  async merge(primary_id, secondary_id, keep_from_secondary) {
    const { data, error } = await api.POST("/v1/contacts/merge", { body: { primary_id, secondary_id, keep_from_secondary } });
    if (error) throw new Error(describe(error));
    return data;
  },
  async unmerge(id, merged_id) {
    const { data, error } = await api.POST("/v1/contacts/{record_id}/unmerge", { params: { path: { record_id: id } }, body: { merged_id } });
    if (error) throw new Error(describe(error));
    return data.restored ?? {};
  },
};
