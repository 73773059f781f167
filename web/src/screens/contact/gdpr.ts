import type { Contact } from "../../api/client";

/** Owners and admins may export and erase a person's data (the API refuses everyone else too). */
export function mayHandlePersonalData(roles: readonly string[] | undefined): boolean {
  return (roles ?? []).some((r) => r === "owner" || r === "admin");
}

/** What the user types to confirm an erasure: the contact's email, else its name. */
export function erasePhrase(c: Contact): string {
  return (c.email ?? [c.first_name, c.last_name].filter(Boolean).join(" ")).trim() || (c.id ?? "");
}

export function confirmsErase(typed: string, phrase: string): boolean {
  return typed.trim().toLowerCase() === phrase.trim().toLowerCase() && phrase.trim() !== "";
}

/** Offers a JSON document as a file download (a link to a blob, clicked, then let go). */
export function downloadJson(document_: unknown, filename: string): void {
  const blob = new Blob([JSON.stringify(document_, null, 2)], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
