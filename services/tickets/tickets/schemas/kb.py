"""Knowledge-base articles: validation in, serialisation out."""

from __future__ import annotations

import re
import uuid
from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate

from crm_http.fields import RecordSchema, UtcDateTime
from tickets.models.kb import ARTICLE_STATUSES

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# BCP 47, the shapes in use: language (2-3 letters), optional script (4), region (2 letters or 3
# digits), variants. Normalised to the conventional case: pt-BR, zh-Hant-TW.
LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-(?:[A-Za-z]{2}|\d{3}))?(-[A-Za-z0-9]{5,8})*$")


def normalise_locale(value: str) -> str:
    parts = value.strip().replace("_", "-").split("-")
    out = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            out.append(part.title())
        elif len(part) == 2 and part.isalpha() or len(part) == 3 and part.isdigit():
            out.append(part.upper())
        else:
            out.append(part.lower())
    return "-".join(out)


class Locale(fields.String):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip().replace("_", "-")
        if len(text) > 35 or not LOCALE.match(text):
            raise ValidationError("Use a BCP 47 language tag, e.g. 'en', 'de-CH', 'pt-BR'.")
        return normalise_locale(text)


def _slug(value: str) -> None:
    if value == "":
        return
    if not SLUG.match(value):
        raise ValidationError("Use lower-case letters, digits and single hyphens, e.g. 'reset-your-password'.")
    try:
        uuid.UUID(value)
    except ValueError:
        return
    raise ValidationError("A slug must not look like an id.")


class ArticleInSchema(Schema):
    title = fields.String(validate=validate.Length(min=1, max=300))
    body_markdown = fields.String(validate=validate.Length(max=200_000))
    category = fields.String(validate=validate.Length(max=100), allow_none=True)
    locale = Locale()
    status = fields.String(validate=validate.OneOf(ARTICLE_STATUSES))
    slug = fields.String(validate=[validate.Length(max=200), _slug])

    @pre_load
    def strip(self, data: Any, **_: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for key in ("title", "slug"):
            if isinstance(out.get(key), str):
                out[key] = out[key].strip()
        if isinstance(out.get("category"), str):
            out["category"] = out["category"].strip() or None
        return out


class ArticleCreateSchema(ArticleInSchema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))


class ArticleSchema(RecordSchema, ArticleInSchema):
    # Lists and search select only what the output reads (crm_http.rows): never the index columns.
    row_omit = ("body_text",)

    body_html = fields.String(dump_only=True)
    published_at = UtcDateTime(dump_only=True, allow_none=True)


class ArticleHitSchema(ArticleSchema):
    rank = fields.Float(dump_only=True, metadata={"description": "Search relevance, higher is better"})


class PublicArticleSchema(Schema):
    """What the help centre's JSON shows: no status, no Markdown source."""

    id = fields.UUID()
    slug = fields.String()
    title = fields.String()
    category = fields.String(allow_none=True)
    locale = fields.String()
    body_html = fields.String()
    snippet = fields.String()
    url = fields.String()
    published_at = UtcDateTime(allow_none=True)
    updated_at = UtcDateTime()


class SuggestedArticleSchema(Schema):
    id = fields.UUID()
    title = fields.String()
    slug = fields.String()
    status = fields.String()
    category = fields.String(allow_none=True)
    locale = fields.String()
    url = fields.String(metadata={"description": "The article in the API"})
    help_center_url = fields.String(allow_none=True, metadata={"description": "On the public help centre (published only)"})
