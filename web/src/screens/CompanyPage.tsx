import { useQuery } from "@tanstack/react-query";
import { useParams } from "react-router-dom";
import { Duplicates } from "../records/page/Duplicates";
import { RecordFields } from "../records/page/RecordFields";
import { RecordMissing, RecordPage, RecordSection, RecordUnavailable, retryUnlessMissing } from "../records/page/RecordPage";
import { Timeline } from "../records/page/Timeline";
import { customFieldSpecs, useProperties } from "../records/page/useProperties";
import { CompanyContacts } from "./company/CompanyContacts";
import { type Company, COMPANY_FIELDS, type CompanyIn, companyAdapter, companyKey, companyMerge, getCompany } from "./company/companyRecord";

const BACK = { to: "/companies", label: "Companies" };

/** /companies/:id: the company's fields and custom fields edited in place, its contacts, its
 * timeline (with its contacts' activities) and its duplicates. */
export default function CompanyPage() {
  const { id = "" } = useParams();
  const key = companyKey(id);
  const company = useQuery({ queryKey: key, queryFn: () => getCompany(id), retry: retryUnlessMissing });
  const properties = useProperties("companies");
  if (!company.data || company.error instanceof RecordMissing) return <RecordUnavailable pending={company.isPending} error={company.error} back={BACK} />;
  const c = company.data;
  const custom = customFieldSpecs<Company, CompanyIn>(properties.data ?? [], (props) => ({ properties: props }));
  return (
    <RecordPage
      back={BACK}
      title={c.name ?? "Company"}
      main={
        <>
          <RecordSection id="details" title="Details">
            <RecordFields adapter={companyAdapter} record={c} queryKey={key} specs={COMPANY_FIELDS}>
              <dt>Tags</dt>
              <dd>{(c.tags ?? []).join(", ") || "—"}</dd>
            </RecordFields>
          </RecordSection>
          {custom.length > 0 && (
            <RecordSection id="custom" title="Custom fields">
              <RecordFields adapter={companyAdapter} record={c} queryKey={key} specs={custom} />
            </RecordSection>
          )}
          {properties.error && <p role="alert" className="error">{properties.error.message}</p>}
          <CompanyContacts companyId={c.id ?? id} />
          <Duplicates adapter={companyMerge} record={c} queryKey={key} compare={[...COMPANY_FIELDS, ...custom]} />
        </>
      }
      aside={<Timeline parent={{ kind: "companies", id: c.id ?? id }} />}
    />
  );
}
