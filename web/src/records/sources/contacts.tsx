import { Link } from "react-router-dom";
import { api, type Contact, describe } from "../../api/client";
import type { FilterField } from "../filter/filterText";
import type { RecordSource } from "../table/types";
import { SHARED_FIELDS, sharedColumns } from "./common";

export const LIFECYCLE_STAGES = ["subscriber", "lead", "marketing_qualified", "sales_qualified", "opportunity", "customer", "evangelist", "other"];
export const LEAD_STATUSES = ["new", "open", "in_progress", "attempted_to_contact", "connected", "open_deal", "unqualified", "bad_timing"];

const FIELDS: FilterField[] = [
  { key: "first_name", label: "First name", type: "text" },
  { key: "last_name", label: "Last name", type: "text" },
  { key: "email", label: "Email", type: "email" },
  { key: "phone", label: "Phone", type: "phone" },
  { key: "company_name", label: "Company name", type: "text" },
  { key: "lifecycle_stage", label: "Stage", type: "enum", options: LIFECYCLE_STAGES },
  { key: "lead_status", label: "Lead status", type: "enum", options: LEAD_STATUSES },
  { key: "lead_score", label: "Lead score", type: "number" },
  { key: "source", label: "Source", type: "text" },
  ...SHARED_FIELDS,
];

export const contactName = (c: Contact): string => [c.first_name, c.last_name].filter(Boolean).join(" ") || c.email || "(no name)";

export const contactSource: RecordSource<Contact> = {
  object: "contacts",
  singular: "contact",
  plural: "contacts",
  title: contactName,
  link: (c) => `/contacts/${c.id ?? ""}`,
  defaultSort: "-updated_at",
  defaultColumns: ["name", "email", "lifecycle_stage", "company_name", "updated_at"],
  fields: FIELDS,
  columns: [
    { key: "name", label: "Name", sort: "last_name", render: (c) => <Link to={`/contacts/${c.id ?? ""}`}>{contactName(c)}</Link> },
    { key: "email", label: "Email", sort: "email", render: (c) => c.email ?? "" },
    { key: "phone", label: "Phone", sort: "phone", render: (c) => c.phone ?? "" },
    { key: "lifecycle_stage", label: "Stage", sort: "lifecycle_stage", render: (c) => c.lifecycle_stage ?? "" },
    { key: "lead_status", label: "Lead status", sort: "lead_status", render: (c) => c.lead_status ?? "" },
    { key: "lead_score", label: "Lead score", sort: "lead_score", render: (c) => String(c.lead_score ?? 0) },
    { key: "company_name", label: "Company", render: (c) => (c.company_id ? <Link to={`/companies/${c.company_id}`}>{c.company_name ?? "Company"}</Link> : (c.company_name ?? "")) },
    { key: "source", label: "Source", sort: "source", render: (c) => c.source ?? "" },
    ...sharedColumns<Contact>(),
  ],
  async list(query, cursor) {
    const { data, error } = await api.GET("/v1/contacts", {
      params: { query: { q: query.q || undefined, filter: query.filter || undefined, sort: query.sort, limit: 50, cursor } },
    });
    if (error) throw new Error(describe(error));
    return { data: data.data ?? [], next_cursor: data.next_cursor };
  },
  async batch(mode, items) {
    const { data, error } = await api.POST("/v1/contacts/batch", { body: { mode, items } });
    if (error) throw new Error(describe(error));
    return data.results ?? [];
  },
};
