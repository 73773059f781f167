import { useQuery } from "@tanstack/react-query";
import { api, describe, type Schemas } from "../../api/client";
import { inputKindOf } from "./fieldValue";
import { type FieldSpec, propertiesOf } from "./types";

export type PropertyObject = "contacts" | "companies";

/** The live (not archived) custom field definitions of contacts or companies. */
export function useProperties(object: PropertyObject) {
  return useQuery({
    queryKey: ["properties", object],
    staleTime: 60_000,
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/properties/{object}", { params: { path: { object } } });
      if (error) throw new Error(describe(error));
      return (data.data ?? []).filter((p) => !p.archived);
    },
  });
}

/** A field spec per definition: the value is `properties[key]`, a change sends `{properties: {key: value}}`
 * (the API changes only the keys it is sent). */
export function customFieldSpecs<R extends { properties?: unknown }, B>(
  definitions: Schemas["Property"][],
  body: (properties: Record<string, unknown>) => B,
): FieldSpec<R, B>[] {
  return definitions.map((d) => ({
    key: `p-${d.key ?? ""}`,
    label: d.label ?? d.key ?? "",
    kind: inputKindOf(d.type ?? "text"),
    options: d.options,
    read: (record: R) => propertiesOf(record)[d.key ?? ""],
    body: (value: unknown) => body({ [d.key ?? ""]: value }),
    mergeKey: `properties.${d.key ?? ""}`,
  }));
}
