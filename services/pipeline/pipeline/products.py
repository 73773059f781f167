"""Products (/v1/products) and a deal's line items (/v1/deals/{id}/line-items).

A line item's net amount is quantity x unit price less its discount, its tax amount net x tax
percent, both rounded to cents and stored. A deal with line items has has_line_items and takes
its amount from them (the sum of their net amounts, in the deal's currency, which every item
shares); the amount is written through the deal use case, so the deal's update event, history
entry and amount_in_base follow as for any amount change.
"""

from __future__ import annotations

import decimal
import uuid
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_core.errors import Conflict, NotFound, ProblemError, validation_error
from crm_events.outbox import Outbox
from crm_events.records import RecordService
from crm_http.auth import require_scope
from crm_http.idempotency import idempotent
from crm_http.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate, parse_sort
from crm_http.parsing import if_match_version, load, parse_uuid, query_int
from crm_http.resource import LIST_PARAMS, json_response, record_response
from crm_runtime.service import ServiceRuntime
from pipeline.deals import FROM_LINE_ITEMS, DealService
from pipeline.exchange_rates import to_base
from pipeline.models import Deal
from pipeline.models.sales import LineItem, Product
from pipeline.schemas import LineItemCreateSchema, LineItemInSchema, LineItemSchema

CENT = decimal.Decimal("0.01")
HUNDRED = decimal.Decimal(100)
# A line's net amount and a deal's sum of them stay below what a deal amount may be (MoneySchema's
# 1e15), so the sum is a valid amount and gross (net + tax) fits the Numeric(18, 2) columns.
AMOUNT_LIMIT = decimal.Decimal("1e15")
# Enough digits for quantity (to 1e12, 4 places) x unit price (to 1e15, 2 places) x a percentage.
_CONTEXT = decimal.Context(prec=60)


def _cents(value: decimal.Decimal) -> decimal.Decimal:
    return value.quantize(CENT, rounding=decimal.ROUND_HALF_UP, context=_CONTEXT)


def _too_large(what: str) -> ProblemError:
    return validation_error({"quantity": [f"{what} would reach {AMOUNT_LIMIT:,.0f}: lower the quantity or the unit price."]})


def line_amounts(quantity: decimal.Decimal, unit_price: decimal.Decimal, discount_percent: decimal.Decimal,
                 tax_percent: decimal.Decimal) -> tuple[decimal.Decimal, decimal.Decimal]:
    """(net, tax) of a line, in cents; 422 naming quantity when the net amount is too large."""
    with decimal.localcontext(_CONTEXT):
        net = _cents(decimal.Decimal(quantity) * decimal.Decimal(unit_price) * (HUNDRED - decimal.Decimal(discount_percent))
                     / HUNDRED)
        if abs(net) >= AMOUNT_LIMIT:
            raise _too_large("The line's net amount")
        return net, _cents(net * decimal.Decimal(tax_percent) / HUNDRED)


class ProductService(RecordService[Product]):
    model = Product
    aggregate = "product"

    def _unique_sku(self, session: Session, sku: str | None, own: uuid.UUID | None) -> None:
        if sku is None:
            return
        found = session.scalars(select(Product).where(Product.sku == sku)).first()
        if found is not None and found.id != own:
            raise Conflict(f"Another product has SKU {sku!r}.", existing_id=str(found.id), errors={"sku": ["Already used."]})

    def fast_create(self, session: Session) -> bool:
        return False

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        self._unique_sku(session, values.get("sku"), None)

    def before_update(self, session: Session, record: Product, values: dict[str, Any]) -> None:
        if "sku" in values:
            self._unique_sku(session, values["sku"], record.id)


class LineItemService(RecordService[LineItem]):
    model = LineItem
    aggregate = "line_item"

    def __init__(self, outbox: Outbox, serialize: Callable[[LineItem], dict[str, Any]], deals: DealService) -> None:
        super().__init__(outbox, serialize)
        self.deals = deals

    def fast_create(self, session: Session) -> bool:
        return False

    def item(self, session: Session, deal_id: uuid.UUID, item_id: uuid.UUID) -> LineItem:
        found = session.scalars(select(LineItem).where(LineItem.id == item_id, LineItem.deal_id == deal_id)).first()
        if found is None:
            raise NotFound(f"No line item with id {item_id} on deal {deal_id}.")
        return found

    def _fill(self, session: Session, values: dict[str, Any], record: LineItem | None, deal: Deal) -> None:
        """Defaults from the product, the deal's currency, and the computed amounts."""
        product = None
        if values.get("product_id") is not None:
            product = session.scalars(select(Product).where(Product.id == values["product_id"])).first()
            if product is None:
                raise validation_error({"product_id": [f"No product with id {values['product_id']}."]})
        if record is None:
            if product is None and ("name" not in values or "unit_price" not in values):
                missing = [f for f in ("name", "unit_price") if f not in values]
                raise validation_error({f: ["Required without a product_id."] for f in missing})
            if product is not None:
                values.setdefault("name", product.name)
                if "unit_price" not in values:
                    values["unit_price"], values["currency"] = product.unit_price, product.currency
                values.setdefault("tax_percent", product.tax_percent)
            values.setdefault("discount_percent", decimal.Decimal(0))
            values.setdefault("tax_percent", decimal.Decimal(0))
            values["deal_id"] = deal.id
            if "position" not in values:
                last = session.scalar(select(func.max(LineItem.position)).where(LineItem.deal_id == deal.id))
                values["position"] = float(last or 0) + 1
        currency = values.get("currency", record.currency if record else None)
        if deal.currency is not None and currency != deal.currency and (deal.has_line_items or deal.amount is not None):
            raise validation_error({"unit_price.currency": [f"Line items of this deal are in {deal.currency}, the deal's currency."]})

        def get(name: str) -> Any:
            return values[name] if name in values else getattr(record, name)

        values["net_amount"], values["tax_amount"] = line_amounts(get("quantity"), get("unit_price"), get("discount_percent"),
                                                                  get("tax_percent"))

    def _deal(self, session: Session, deal_id: uuid.UUID) -> Deal:
        return self.deals.get(session, deal_id, for_update=True)  # one line-item write per deal at a time

    def add(self, session: Session, deal_id: uuid.UUID, values: dict[str, Any]) -> LineItem:
        deal = self._deal(session, deal_id)
        self._fill(session, values, None, deal)
        item = self.create(session, values)
        self.sync_deal(session, deal, item.currency)
        return item

    def change(self, session: Session, deal_id: uuid.UUID, item_id: uuid.UUID, values: dict[str, Any],
               expected: int | None) -> LineItem:
        deal = self._deal(session, deal_id)
        record = self.item(session, deal_id, item_id)
        self.check_version(record, expected)
        self._fill(session, values, record, deal)
        item = self.update(session, item_id, values, expected)
        self.sync_deal(session, deal, item.currency)
        return item

    def remove(self, session: Session, deal_id: uuid.UUID, item_id: uuid.UUID, expected: int | None) -> None:
        deal = self._deal(session, deal_id)
        record = self.item(session, deal_id, item_id)
        currency = record.currency
        self.delete(session, item_id, expected)
        self.sync_deal(session, deal, currency)

    def sync_deal(self, session: Session, deal: Deal, currency: str) -> None:
        """The deal's amount is the sum of its line items' net amounts (kept when the last one goes)."""
        total = session.scalar(select(func.sum(LineItem.net_amount)).where(LineItem.deal_id == deal.id))
        count = session.scalar(select(func.count()).select_from(LineItem).where(LineItem.deal_id == deal.id)) or 0
        values: dict[str, Any] = {FROM_LINE_ITEMS: True, "has_line_items": count > 0}
        if count:
            amount = _cents(decimal.Decimal(total or 0))
            if abs(amount) >= AMOUNT_LIMIT:
                raise _too_large("The deal's amount (the sum of its line items)")
            to_base(session, amount, currency, field="quantity")  # 422 before the deal's own conversion overflows
            values.update(amount=amount, currency=currency)
        if count or deal.has_line_items:
            self.deals.update(session, deal.id, values)


def register_line_items(bp: Blueprint, runtime: ServiceRuntime, items: LineItemService) -> None:
    out, create_schema, update_schema = LineItemSchema(), LineItemCreateSchema(), LineItemInSchema()
    base, item_path = "/v1/deals/<deal_id>/line-items", "/v1/deals/<deal_id>/line-items/<item_id>"

    def listing(deal_id: str) -> Response:
        require_scope("pipeline:read")
        did = parse_uuid(deal_id, "deal")
        limit = query_int("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        keys = parse_sort(request.args.get("sort"), {"position": LineItem.position, "created_at": LineItem.created_at,
                                                     "id": LineItem.id}, "position", LineItem.id)
        with runtime.db.transaction() as session:
            items.deals.get(session, did)  # 404 for an unknown deal or another tenant's
            rows, next_cursor = paginate(session, select(LineItem).where(LineItem.deal_id == did), keys, limit,
                                         request.args.get("cursor"))
            data = [out.dump(r) for r in rows]
        return json_response({"data": data, "next_cursor": next_cursor})

    def create(deal_id: str) -> Response:
        require_scope("pipeline:write")
        did = parse_uuid(deal_id, "deal")
        values = load(create_schema)
        with runtime.db.transaction() as session:
            body = items.body(session, items.add(session, did, values))
        return record_response(body, 201, location=f"/v1/deals/{did}/line-items/{body['id']}")

    def read(deal_id: str, item_id: str) -> Response:
        require_scope("pipeline:read")
        did, iid = parse_uuid(deal_id, "deal"), parse_uuid(item_id, "line item")
        with runtime.db.transaction() as session:
            return record_response(out.dump(items.item(session, did, iid)))

    def update(deal_id: str, item_id: str) -> Response:
        require_scope("pipeline:write")
        did, iid = parse_uuid(deal_id, "deal"), parse_uuid(item_id, "line item")
        expected = if_match_version()
        values = load(update_schema, partial=True)
        with runtime.db.transaction() as session:
            body = items.body(session, items.change(session, did, iid, values, expected))
        return record_response(body)

    def delete(deal_id: str, item_id: str) -> Response:
        require_scope("pipeline:write")
        did, iid = parse_uuid(deal_id, "deal"), parse_uuid(item_id, "line item")
        expected = if_match_version()
        with runtime.db.transaction() as session:
            items.remove(session, did, iid, expected)
        return Response(status=204)

    bp.add_url_rule(base, "line_items_list", listing, methods=["GET"])
    bp.add_url_rule(base, "line_items_create", idempotent(lambda: runtime.db, lambda: runtime.idempotency)(create),
                    methods=["POST"])
    bp.add_url_rule(item_path, "line_items_get", read, methods=["GET"])
    bp.add_url_rule(item_path, "line_items_update", update, methods=["PATCH"])
    bp.add_url_rule(item_path, "line_items_delete", delete, methods=["DELETE"])
    doc, tag = runtime.doc, "Deals"
    deal_param = {"name": "deal_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
    item_param = {"name": "item_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
    if_match = {"name": "If-Match", "in": "header", "schema": {"type": "string"}}
    doc_base, doc_item = "/v1/deals/{deal_id}/line-items", "/v1/deals/{deal_id}/line-items/{item_id}"
    doc.operation(doc_base, "get", summary="List a deal's line items", tag=tag, scope="pipeline:read", response=LineItemSchema,
                  list_of=True, parameters=[deal_param, *LIST_PARAMS], extra_responses={404: "Not found"})
    doc.operation(doc_base, "post", summary="Add a line item (the deal's amount becomes the sum of their net amounts)", tag=tag,
                  scope="pipeline:write", request=LineItemCreateSchema, response=LineItemSchema, status=201,
                  parameters=[deal_param], extra_responses={404: "Not found", 422: "Invalid fields (e.g. another currency)"})
    doc.operation(doc_item, "get", summary="Get a line item", tag=tag, scope="pipeline:read", response=LineItemSchema,
                  parameters=[deal_param, item_param], extra_responses={404: "Not found"})
    doc.operation(doc_item, "patch", summary="Change a line item", tag=tag, scope="pipeline:write", request=LineItemInSchema,
                  response=LineItemSchema, parameters=[deal_param, item_param, if_match],
                  extra_responses={404: "Not found", 412: "Stale If-Match", 422: "Invalid fields"})
    doc.operation(doc_item, "delete", summary="Remove a line item", tag=tag, scope="pipeline:write", status=204,
                  parameters=[deal_param, item_param, if_match], extra_responses={404: "Not found", 412: "Stale If-Match"})
