import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useId, useState } from "react";
import { api, type Deal, describe, etag, type Schemas } from "../../api/client";
import { money } from "../board/money";
import { invalidateAround } from "./useDeal";

type LineItem = Schemas["LineItem"];
interface MoneyLike {
  amount?: string;
  currency?: string;
}

export const asMoney = (value: unknown): MoneyLike => (value && typeof value === "object" ? (value as MoneyLike) : {});
const show = (value: unknown) => money(asMoney(value).amount, asMoney(value).currency, true);

/** The deal's products: quantity, unit price and discount per line; the net, tax and the deal's
 * amount are what the API computes (the deal is read again after each change). */
export function LineItems({ deal }: { deal: Deal }) {
  const client = useQueryClient();
  const dealId = deal.id ?? "";
  const key = ["line-items", dealId];
  const items = useQuery({
    queryKey: key,
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/deals/{deal_id}/line-items", { params: { path: { deal_id: dealId }, query: { limit: 200 } } });
      if (error) throw new Error(describe(error));
      return data.data ?? [];
    },
  });
  const products = useQuery({
    queryKey: ["products"],
    staleTime: 300_000,
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/products", { params: { query: { limit: 200 } } });
      if (error) throw new Error(describe(error));
      return (data.data ?? []).filter((p) => p.active !== false);
    },
  });
  const changed = () => {
    void client.invalidateQueries({ queryKey: key });
    void client.invalidateQueries({ queryKey: ["deal", dealId] });
    invalidateAround(client, dealId);
  };
  const remove = useMutation({
    mutationFn: async (item: LineItem) => {
      const { error } = await api.DELETE("/v1/deals/{deal_id}/line-items/{item_id}", {
        params: { path: { deal_id: dealId, item_id: item.id ?? "" }, header: { "If-Match": etag(item.version) } },
      });
      if (error) throw new Error(describe(error));
    },
    onSuccess: changed,
  });
  const rows = items.data ?? [];
  const tax = rows.reduce((sum, i) => sum + Number(asMoney(i.tax_amount).amount ?? 0), 0);
  const currency = deal.amount?.currency ?? asMoney(rows[0]?.net_amount).currency ?? "EUR";

  return (
    <section aria-labelledby="line-items-title">
      <h2 id="line-items-title">Line items</h2>
      {items.error && <p role="alert" className="error">{items.error.message}</p>}
      {remove.error && <p role="alert" className="error">{remove.error.message}</p>}
      {rows.length > 0 && (
        <table className="line-items">
          <thead>
            <tr><th scope="col">Item</th><th scope="col">Quantity</th><th scope="col">Unit price</th><th scope="col">Discount</th><th scope="col">Net</th><th scope="col"><span className="sr-only">Actions</span></th></tr>
          </thead>
          <tbody>
            {rows.map((item) => (
              <LineItemRow key={item.id} item={item} dealId={dealId} onChanged={changed} onRemove={() => remove.mutate(item)} />
            ))}
          </tbody>
        </table>
      )}
      <p className="totals" data-testid="deal-amount">
        Deal amount: {deal.amount?.amount != null ? money(deal.amount.amount, deal.amount.currency, true) : "none"}
        {rows.length > 0 && <span className="muted"> (sum of the net amounts; tax {money(tax, currency, true)})</span>}
      </p>
      <AddLineItem dealId={dealId} currency={deal.amount?.currency ?? null} products={products.data ?? []} onAdded={changed} />
    </section>
  );
}

function LineItemRow({ item, dealId, onChanged, onRemove }: { item: LineItem; dealId: string; onChanged: () => void; onRemove: () => void }) {
  const [editing, setEditing] = useState(false);
  const id = useId();
  const save = useMutation({
    mutationFn: async (body: Schemas["LineItemIn"]) => {
      const { error } = await api.PATCH("/v1/deals/{deal_id}/line-items/{item_id}", {
        params: { path: { deal_id: dealId, item_id: item.id ?? "" }, header: { "If-Match": etag(item.version) } }, body,
      });
      if (error) throw new Error(describe(error));
    },
    onSuccess: () => {
      setEditing(false);
      onChanged();
    },
  });
  const price = asMoney(item.unit_price);
  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const d = new FormData(event.currentTarget);
    save.mutate({
      quantity: String(d.get("quantity") ?? "1").trim(),
      unit_price: { amount: String(d.get("price") ?? "0").trim(), currency: price.currency ?? "EUR" },
      discount_percent: String(d.get("discount") ?? "0").trim() || "0",
    });
  }
  if (editing) {
    return (
      <tr data-item={item.name}>
        <td colSpan={6}>
          <form className="inline" onSubmit={submit} aria-label={`Edit ${item.name}`}>
            <strong>{item.name}</strong>
            <label htmlFor={`${id}-q`}>Quantity</label><input id={`${id}-q`} name="quantity" defaultValue={Number(item.quantity)} inputMode="decimal" />
            <label htmlFor={`${id}-p`}>Unit price</label><input id={`${id}-p`} name="price" defaultValue={price.amount} inputMode="decimal" />
            <label htmlFor={`${id}-d`}>Discount %</label><input id={`${id}-d`} name="discount" defaultValue={Number(item.discount_percent)} inputMode="decimal" />
            <button type="submit" disabled={save.isPending}>Save</button>
            <button type="button" className="link" onClick={() => setEditing(false)}>Cancel</button>
            {save.error && <p role="alert" className="error">{save.error.message}</p>}
          </form>
        </td>
      </tr>
    );
  }
  return (
    <tr data-item={item.name}>
      <td data-label="Item">{item.name}</td>
      <td data-label="Quantity">{Number(item.quantity)}</td>
      <td data-label="Unit price">{show(item.unit_price)}</td>
      <td data-label="Discount">{Number(item.discount_percent)} %</td>
      <td data-label="Net" data-testid="net">{show(item.net_amount)}</td>
      <td data-label="Actions">
        <button type="button" className="link" onClick={() => setEditing(true)}>Edit<span className="sr-only"> {item.name}</span></button>
        <button type="button" className="link" onClick={onRemove}>Remove<span className="sr-only"> {item.name}</span></button>
      </td>
    </tr>
  );
}

function AddLineItem({ dealId, currency, products, onAdded }: { dealId: string; currency: string | null; products: Schemas["Product"][]; onAdded: () => void }) {
  const id = useId();
  const add = useMutation({
    mutationFn: async (body: Schemas["LineItemCreate"]) => {
      const { error } = await api.POST("/v1/deals/{deal_id}/line-items", { params: { path: { deal_id: dealId } }, body });
      if (error) throw new Error(describe(error));
    },
    onSuccess: onAdded,
  });
  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const d = new FormData(form);
    const product = products.find((p) => p.id === d.get("product"));
    const name = String(d.get("name") ?? "").trim();
    const price = String(d.get("price") ?? "").trim().replace(",", ".");
    const body: Schemas["LineItemCreate"] = { quantity: String(d.get("quantity") ?? "1").trim() || "1" };
    if (product?.id) body.product_id = product.id;
    if (name) body.name = name;
    if (price) body.unit_price = { amount: price, currency: currency ?? asMoney(product?.unit_price).currency ?? "EUR" };
    const discount = String(d.get("discount") ?? "").trim();
    if (discount) body.discount_percent = discount;
    add.mutate(body, { onSuccess: () => form.reset() });
  }
  return (
    <form className="card" onSubmit={submit} aria-label="Add a line item">
      <div className="field">
        <label htmlFor={`${id}-product`}>Product</label>
        <select id={`${id}-product`} name="product" defaultValue="">
          <option value="">No product (name it below)</option>
          {products.map((p) => <option key={p.id} value={p.id}>{p.name} ({show(p.unit_price)})</option>)}
        </select>
      </div>
      <div className="inline">
        <div className="field"><label htmlFor={`${id}-name`}>Line name</label><input id={`${id}-name`} name="name" /></div>
        <div className="field"><label htmlFor={`${id}-q`}>Quantity</label><input id={`${id}-q`} name="quantity" defaultValue="1" inputMode="decimal" size={5} /></div>
        <div className="field"><label htmlFor={`${id}-price`}>Unit price</label><input id={`${id}-price`} name="price" inputMode="decimal" size={8} placeholder="product's" /></div>
        <div className="field"><label htmlFor={`${id}-discount`}>Discount %</label><input id={`${id}-discount`} name="discount" inputMode="decimal" size={4} /></div>
      </div>
      {add.error && <p role="alert" className="error">{add.error.message}</p>}
      <button type="submit" disabled={add.isPending}>Add line item</button>
    </form>
  );
}
