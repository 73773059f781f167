import { Link } from "react-router-dom";
import { api, describe, type Schemas } from "../../api/client";
import type { FilterField } from "../filter/filterText";
import type { RecordSource } from "../table/types";
import { SHARED_FIELDS, sharedColumns } from "./common";

export type Company = Schemas["Company"];

const FIELDS: FilterField[] = [
  { key: "name", label: "Name", type: "text" },
  { key: "domain", label: "Domain", type: "text" },
  { key: "industry", label: "Industry", type: "text" },
  { key: "size", label: "Employees", type: "number" },
  ...SHARED_FIELDS,
];

export const companyName = (c: Company): string => c.name || c.domain || "(no name)";

export const companySource: RecordSource<Company> = {
  object: "companies",
  singular: "company",
  plural: "companies",
  title: companyName,
  link: (c) => `/companies/${c.id ?? ""}`,
  defaultSort: "-updated_at",
  defaultColumns: ["name", "domain", "industry", "size", "updated_at"],
  fields: FIELDS,
  columns: [
    { key: "name", label: "Name", sort: "name", render: (c) => <Link to={`/companies/${c.id ?? ""}`}>{companyName(c)}</Link> },
    { key: "domain", label: "Domain", sort: "domain", render: (c) => c.domain ?? "" },
    { key: "industry", label: "Industry", sort: "industry", render: (c) => c.industry ?? "" },
    { key: "size", label: "Employees", sort: "size", render: (c) => (c.size === null || c.size === undefined ? "" : String(c.size)) },
    ...sharedColumns<Company>(),
  ],
  async list(query, cursor) {
    const { data, error } = await api.GET("/v1/companies", {
      params: { query: { q: query.q || undefined, filter: query.filter || undefined, sort: query.sort, limit: 50, cursor } },
    });
    if (error) throw new Error(describe(error));
    return { data: data.data ?? [], next_cursor: data.next_cursor };
  },
  async batch(mode, items) {
    const { data, error } = await api.POST("/v1/companies/batch", { body: { mode, items } });
    if (error) throw new Error(describe(error));
    return data.results ?? [];
  },
};
