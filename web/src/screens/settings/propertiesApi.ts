// Custom-field definitions per object. Contacts and companies share /v1/properties/{object}; deals
// and tickets have their own paths (other services): one typed call per path.
import { api, etag, type Schemas } from "../../api/client";
import { raise } from "./problem";

export type Property = Schemas["Property"];
export type PropertyCreate = Schemas["PropertyCreate"];
export type PropertyUpdate = Schemas["PropertyUpdate"];
export type PropertyType = PropertyCreate["type"];
export type PropertyObject = "contacts" | "companies" | "deals" | "tickets";

export const OBJECTS: { value: PropertyObject; label: string }[] = [
  { value: "contacts", label: "Contacts" },
  { value: "companies", label: "Companies" },
  { value: "deals", label: "Deals" },
  { value: "tickets", label: "Tickets" },
];

export const TYPES: { value: PropertyType; label: string }[] = [
  { value: "text", label: "Text" },
  { value: "number", label: "Number" },
  { value: "bool", label: "Yes / no" },
  { value: "date", label: "Date" },
  { value: "datetime", label: "Date and time" },
  { value: "enum", label: "One of a list (select)" },
  { value: "multi_enum", label: "Several of a list (multi-select)" },
  { value: "email", label: "Email" },
  { value: "phone", label: "Phone" },
  { value: "url", label: "Web address" },
  { value: "money", label: "Money" },
];

/** Types whose values come from a list of options. */
export function hasOptions(type: string | undefined): boolean {
  return type === "enum" || type === "multi_enum";
}

/** One option a line; blank lines dropped. */
export function parseOptions(text: string): string[] {
  return text.split("\n").map((line) => line.trim()).filter(Boolean);
}

export async function listProperties(object: PropertyObject): Promise<Property[]> {
  if (object === "deals") {
    const { data, error } = await api.GET("/v1/properties/deals");
    return error ? raise(error) : data.data ?? [];
  }
  if (object === "tickets") {
    const { data, error } = await api.GET("/v1/properties/tickets");
    return error ? raise(error) : data.data ?? [];
  }
  const { data, error } = await api.GET("/v1/properties/{object}", { params: { path: { object } } });
  return error ? raise(error) : data.data ?? [];
}

export async function createProperty(object: PropertyObject, body: PropertyCreate): Promise<Property> {
  if (object === "deals") {
    const { data, error } = await api.POST("/v1/properties/deals", { body });
    return error ? raise(error) : data;
  }
  if (object === "tickets") {
    const { data, error } = await api.POST("/v1/properties/tickets", { body });
    return error ? raise(error) : data;
  }
  const { data, error } = await api.POST("/v1/properties/{object}", { params: { path: { object } }, body });
  return error ? raise(error) : data;
}

export async function updateProperty(object: PropertyObject, field: Property, body: PropertyUpdate): Promise<Property> {
  const key = field.key ?? "";
  const headers = { "If-Match": etag(field.version) };
  if (object === "deals") {
    const { data, error } = await api.PATCH("/v1/properties/deals/{key}", { params: { path: { key } }, headers, body });
    return error ? raise(error) : data;
  }
  if (object === "tickets") {
    const { data, error } = await api.PATCH("/v1/properties/tickets/{key}", { params: { path: { key } }, headers, body });
    return error ? raise(error) : data;
  }
  const { data, error } = await api.PATCH("/v1/properties/{object}/{key}", { params: { path: { object, key } }, headers, body });
  return error ? raise(error) : data;
}

/** DELETE archives: the values stay on the records, hidden, and come back on restore. */
export async function archiveProperty(object: PropertyObject, field: Property): Promise<void> {
  const key = field.key ?? "";
  const headers = { "If-Match": etag(field.version) };
  const { error } = object === "deals"
    ? await api.DELETE("/v1/properties/deals/{key}", { params: { path: { key } }, headers })
    : object === "tickets"
      ? await api.DELETE("/v1/properties/tickets/{key}", { params: { path: { key } }, headers })
      : await api.DELETE("/v1/properties/{object}/{key}", { params: { path: { object, key } }, headers });
  if (error) raise(error);
}
