import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router-dom";
import type { Contact } from "../api/client";
import { Duplicates } from "../records/page/Duplicates";
import { RecordFields } from "../records/page/RecordFields";
import { RecordMissing, RecordPage, RecordSection, RecordUnavailable, retryUnlessMissing } from "../records/page/RecordPage";
import { Timeline } from "../records/page/Timeline";
import { customFieldSpecs, useProperties } from "../records/page/useProperties";
import { ContactGdpr } from "./contact/ContactGdpr";
import { CONTACT_FIELDS, type ContactIn, contactAdapter, contactKey, contactMerge, contactName, getContact } from "./contact/contactRecord";

const BACK = { to: "/contacts", label: "Contacts" };

/** /contacts/:id: the contact's fields and custom fields edited in place, its company, timeline,
 * duplicates, and (owners and admins) GDPR export and erasure. */
export default function ContactPage() {
  const { id = "" } = useParams();
  const key = contactKey(id);
  const contact = useQuery({ queryKey: key, queryFn: () => getContact(id), retry: retryUnlessMissing });
  const properties = useProperties("contacts");
  if (!contact.data || contact.error instanceof RecordMissing) return <RecordUnavailable pending={contact.isPending} error={contact.error} back={BACK} />;
  const c = contact.data;
  const custom = customFieldSpecs<Contact, ContactIn>(properties.data ?? [], (props) => ({ properties: props }));
  return (
    <RecordPage
      back={BACK}
      title={contactName(c)}
      main={
        <>
          <RecordSection id="details" title="Details">
            <RecordFields adapter={contactAdapter} record={c} queryKey={key} specs={CONTACT_FIELDS}>
              <dt>Company</dt>
              <dd>{c.company_id ? <Link to={`/companies/${c.company_id}`}>{c.company_name ?? "Company"}</Link> : c.company_name ?? "—"}</dd>
              <dt>Tags</dt>
              <dd>{(c.tags ?? []).join(", ") || "—"}</dd>
              <dt>Lead score</dt>
              <dd>{c.lead_score ?? 0}</dd>
            </RecordFields>
          </RecordSection>
          {custom.length > 0 && (
            <RecordSection id="custom" title="Custom fields">
              <RecordFields adapter={contactAdapter} record={c} queryKey={key} specs={custom} />
            </RecordSection>
          )}
          {properties.error && <p role="alert" className="error">{properties.error.message}</p>}
          <Duplicates adapter={contactMerge} record={c} queryKey={key} compare={[...CONTACT_FIELDS, ...custom]} />
          <ContactGdpr contact={c} queryKey={key} />
        </>
      }
      aside={<Timeline parent={{ kind: "contacts", id: c.id ?? id }} />}
    />
  );
}
