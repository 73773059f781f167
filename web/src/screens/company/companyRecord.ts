// The company as the record page shell sees it: its fields, its If-Match PATCH, its duplicates and merges.
import { api, describe, etag, type Schemas } from "../../api/client";
import { RecordMissing } from "../../records/page/RecordPage";
import type { FieldSpec, MergeAdapter, PatchResult, RecordAdapter } from "../../records/page/types";
import { currentOf } from "../contact/contactRecord";

export type Company = Schemas["Company"];
export type CompanyIn = Schemas["CompanyIn"];

export function companyKey(id: string) {
  return ["company", id];
}

export async function getCompany(id: string): Promise<Company> {
  const { data, error, response } = await api.GET("/v1/companies/{record_id}", { params: { path: { record_id: id } } });
  if (response.status === 404) throw new RecordMissing("There is no such company.");
  if (error) throw new Error(describe(error));
  return data;
}

export const companyAdapter: RecordAdapter<Company, CompanyIn> = {
  noun: "company",
  async patch(record, body): Promise<PatchResult<Company>> {
    const id = record.id ?? "";
    const { data, error, response } = await api.PATCH("/v1/companies/{record_id}", {
      params: { path: { record_id: id }, header: { "If-Match": etag(record.version) } },
      body,
    });
    if (response.status === 412) return { conflict: currentOf<Company>(error) ?? (await getCompany(id)) };
    if (error) return { error: describe(error) };
    return { record: data };
  },
};

type Key = "name" | "domain" | "industry" | "size";

function standard(key: Key, label: string, kind: FieldSpec<Company, CompanyIn>["kind"]): FieldSpec<Company, CompanyIn> {
  return { key, label, kind, mergeKey: key, read: (c) => c[key], body: (value) => ({ [key]: value }) as CompanyIn };
}

export const COMPANY_FIELDS: FieldSpec<Company, CompanyIn>[] = [
  standard("name", "Name", "text"),
  standard("domain", "Domain", "text"),
  standard("industry", "Industry", "text"),
  standard("size", "Employees", "number"),
];

export const companyMerge: MergeAdapter<Company> = {
  noun: "company",
  nameOf: (c) => (c.domain ? `${c.name ?? "Unnamed company"} (${c.domain})` : c.name ?? "Unnamed company"),
  linkOf: (id) => `/companies/${id}`,
  async duplicates(id) {
    const { data, error } = await api.GET("/v1/companies/{record_id}/duplicates", { params: { path: { record_id: id } } });
    if (error) throw new Error(describe(error));
    return (data.data ?? []).flatMap((d) => (d.company ? [{ record: d.company, score: d.score ?? 0, reasons: d.reasons ?? [] }] : []));
  },
  async merge(primary_id, secondary_id, keep_from_secondary) {
    const { data, error } = await api.POST("/v1/companies/merge", { body: { primary_id, secondary_id, keep_from_secondary } });
    if (error) throw new Error(describe(error));
    return data;
  },
  async unmerge(id, merged_id) {
    const { data, error } = await api.POST("/v1/companies/{record_id}/unmerge", { params: { path: { record_id: id } }, body: { merged_id } });
    if (error) throw new Error(describe(error));
    return data.restored ?? {};
  },
};
