import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { api, describe } from "../../api/client";
import { RecordSection } from "../../records/page/RecordPage";
import { contactName } from "../contact/contactRecord";

/** The filter for contacts linked to a company (any of their companies, not only the primary). */
export function linkedFilter(companyId: string): string {
  return `company_ids contains '${companyId.replaceAll("'", "''")}'`;
}

/** The company's contacts, each a link to its page. */
export function CompanyContacts({ companyId }: { companyId: string }) {
  const contacts = useQuery({
    queryKey: ["contacts", "of-company", companyId],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/contacts", { params: { query: { filter: linkedFilter(companyId), limit: 100, sort: "last_name,first_name" } } });
      if (error) throw new Error(describe(error));
      return data;
    },
  });
  const list = contacts.data?.data ?? [];
  return (
    <RecordSection id="company-contacts" title="Contacts">
      {contacts.isPending && <p role="status">Loading…</p>}
      {contacts.error && <p role="alert" className="error">{contacts.error.message}</p>}
      {contacts.data && list.length === 0 && <p className="muted">No contacts are linked to this company.</p>}
      <ul className="record-links">
        {list.map((c) => (
          <li key={c.id}>
            <Link to={`/contacts/${c.id}`}>{contactName(c)}</Link>
            {c.email && <span className="muted"> {c.email}</span>}
          </li>
        ))}
      </ul>
      {contacts.data?.next_cursor && <p className="muted">Showing the first 100.</p>}
    </RecordSection>
  );
}
