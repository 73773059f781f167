import type { Deal, Stage } from "../../api/client";
import { money } from "../board/money";
import { ownerLabel, useOwners } from "../board/useOwners";
import { InPlaceField } from "./InPlaceField";
import { parseProperty, type Property, propertyText } from "./properties";
import { StageField } from "./StageField";

const text = (data: FormData) => String(data.get("value") ?? "").trim();

/** The deal's own fields and its custom fields, each edited in place. */
export function DealFields({ deal, stages, properties }: { deal: Deal; stages: Stage[]; properties: Property[] }) {
  const owners = useOwners();
  const amount = deal.amount?.amount != null ? money(deal.amount.amount, deal.amount.currency, true) : "";
  const currency = deal.amount?.currency || "EUR";
  const values = (deal.properties ?? {}) as Record<string, unknown>;
  return (
    <dl className="fields">
      <InPlaceField deal={deal} label="Name" display={deal.name ?? ""}
        editor={(l) => <input name="value" defaultValue={deal.name ?? ""} aria-labelledby={l} autoFocus required />}
        toPatch={(d) => (text(d) ? { name: text(d) } : "A deal needs a name.")} />
      <InPlaceField deal={deal} label="Amount" display={amount} fixed={deal.has_line_items ? "the sum of its line items" : undefined}
        editor={(l) => (
          <>
            <input name="value" defaultValue={deal.amount?.amount ?? ""} aria-labelledby={l} inputMode="decimal" autoFocus />
            <label className="sr-only" htmlFor={`${l}-currency`}>Currency</label>
            <input id={`${l}-currency`} name="currency" defaultValue={currency} size={4} maxLength={3} />
          </>
        )}
        toPatch={(d) => {
          const value = text(d).replace(",", ".");
          if (!value) return { amount: null };
          return { amount: { amount: value, currency: String(d.get("currency") ?? currency).trim().toUpperCase() } };
        }} />
      <InPlaceField deal={deal} label="Close date" display={deal.expected_close_date ?? ""}
        editor={(l) => <input type="date" name="value" defaultValue={deal.expected_close_date ?? ""} aria-labelledby={l} autoFocus />}
        toPatch={(d) => ({ expected_close_date: text(d) || null })} />
      <InPlaceField deal={deal} label="Owner" display={ownerLabel(owners, deal.owner_id)}
        editor={(l) => (
          <select name="value" defaultValue={deal.owner_id ?? ""} aria-labelledby={l} autoFocus>
            <option value="">Nobody</option>
            {owners.map((o) => <option key={o.id} value={o.id}>{o.label}</option>)}
          </select>
        )}
        toPatch={(d) => ({ owner_id: text(d) || null })} />
      <StageField deal={deal} stages={stages} />
      <dt>Status</dt>
      <dd>{deal.status}{deal.lost_reason ? ` (${deal.lost_reason})` : ""}</dd>
      {properties.map((p) => (
        <InPlaceField key={p.key} deal={deal} label={p.label || p.key || ""} display={propertyText(p.type, values[p.key ?? ""])}
          editor={(l) => <PropertyEditor property={p} value={values[p.key ?? ""]} labelId={l} />}
          toPatch={(d) => {
            const parsed = parseProperty(p.type, d.getAll("value").map(String));
            return "error" in parsed ? parsed.error : { properties: { [p.key ?? ""]: parsed.value } };
          }} />
      ))}
    </dl>
  );
}

function PropertyEditor({ property, value, labelId }: { property: Property; value: unknown; labelId: string }) {
  const current = propertyText(property.type, value);
  if (property.type === "enum" || property.type === "bool") {
    const options = property.type === "bool" ? [["true", "Yes"], ["false", "No"]] : (property.options ?? []).map((o) => [o, o]);
    const start = property.type === "bool" ? (value === true ? "true" : value === false ? "false" : "") : current;
    return (
      <select name="value" defaultValue={start} aria-labelledby={labelId} autoFocus>
        <option value="">—</option>
        {options.map(([v, t]) => <option key={v} value={v}>{t}</option>)}
      </select>
    );
  }
  if (property.type === "multi_enum") {
    const chosen = Array.isArray(value) ? value.map(String) : [];
    return (
      <select name="value" multiple defaultValue={chosen} aria-labelledby={labelId} autoFocus>
        {(property.options ?? []).map((o) => <option key={o} value={o}>{o}</option>)}
      </select>
    );
  }
  const type = property.type === "number" ? "number" : property.type === "date" ? "date" : "text";
  return <input name="value" type={type} step={type === "number" ? "any" : undefined} defaultValue={current} aria-labelledby={labelId} autoFocus />;
}
