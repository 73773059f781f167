// Suggesting a CSV column's contact field from its header, as a person would read it.

export const CONTACT_FIELDS = ["first_name", "last_name", "email", "phone", "company_name", "lifecycle_stage",
  "lead_status", "source", "tags"] as const;

const ALIASES: Record<string, (typeof CONTACT_FIELDS)[number]> = {
  firstname: "first_name", givenname: "first_name", forename: "first_name", vorname: "first_name",
  lastname: "last_name", surname: "last_name", familyname: "last_name", nachname: "last_name",
  email: "email", emailaddress: "email", mail: "email",
  phone: "phone", telephone: "phone", mobile: "phone", phonenumber: "phone", tel: "phone",
  company: "company_name", companyname: "company_name", organisation: "company_name", organization: "company_name",
  stage: "lifecycle_stage", lifecyclestage: "lifecycle_stage", leadstatus: "lead_status", source: "source", tags: "tags",
};

function normalise(header: string): string {
  return header.toLowerCase().normalize("NFKD").replace(/[^a-z0-9]/g, "");
}

/** The field a header most likely means, or null to leave the column out. */
export function suggestField(header: string): string | null {
  return ALIASES[normalise(header)] ?? null;
}

/** The first line of a CSV file, split on its delimiter (`,` `;` or tab, as the importer reads it). */
export function headerOf(firstLine: string): string[] {
  const line = firstLine.replace(/^\uFEFF/, "").replace(/\r$/, "");
  const delimiter = [",", ";", "\t"].map((d) => [d, line.split(d).length] as const).sort((a, b) => b[1] - a[1])[0]?.[0] ?? ",";
  const cells: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === delimiter) {
      cells.push(cell.trim());
      cell = "";
    } else cell += ch;
  }
  cells.push(cell.trim());
  return cells;
}
