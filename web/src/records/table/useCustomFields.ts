import { useQuery } from "@tanstack/react-query";
import { api, describe, type Schemas } from "../../api/client";
import type { FieldType, FilterField } from "../filter/filterText";
import type { Objects } from "./types";

export type Property = Schemas["Property"];

const TYPES: ReadonlySet<string> = new Set(["text", "number", "bool", "date", "datetime", "enum", "multi_enum", "email", "phone", "url", "money"]);

/** The tenant's active custom fields of contacts or companies, as filter fields. */
export function useCustomFields(object: Objects) {
  return useQuery({
    queryKey: ["properties", object],
    staleTime: 60_000,
    queryFn: async (): Promise<FilterField[]> => {
      const { data, error } = await api.GET("/v1/properties/{object}", { params: { path: { object } } });
      if (error) throw new Error(describe(error));
      return (data.data ?? []).filter((p) => !p.archived_at && p.key && TYPES.has(p.type ?? "")).map((p) => ({
        key: p.key ?? "",
        label: p.label ?? p.key ?? "",
        type: (p.type ?? "text") as FieldType,
        options: p.options ?? null,
      }));
    },
  });
}

/** A custom field's value as text for a table cell. */
export function formatProperty(value: unknown, type: FieldType): string {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.map(String).join(", ");
  if (type === "bool") return value ? "Yes" : "No";
  if (type === "money" && typeof value === "object") {
    const m = value as { amount?: unknown; currency?: unknown };
    return `${String(m.amount ?? "")} ${String(m.currency ?? "")}`.trim();
  }
  if (type === "datetime" && typeof value === "string") return new Date(value).toLocaleString();
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

export function propertyOf(row: { properties?: unknown }, key: string): unknown {
  const props = row.properties;
  return props && typeof props === "object" ? (props as Record<string, unknown>)[key] : undefined;
}
