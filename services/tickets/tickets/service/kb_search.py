"""Ranked full-text search over knowledge-base articles, one engine per database.

PostgreSQL: kb_search (no RLS: see tickets/models/kb.py) holds per article search_vector =
setweight(to_tsvector(cfg, title), 'A') || setweight(to_tsvector(cfg, body), 'B') in the article's
language configuration, matched with websearch_to_tsquery in that same configuration (a stemmed
query only matches vectors stemmed alike), ranked with ts_rank_cd; the best ids are then read from
kb_articles (under RLS) in the same statement. Without
a locale filter the query is made once per configuration the tenant's articles use (a loose index
scan finds them, sent with the transaction's BEGIN: configs_prefetch), each matched only against
its own articles.

SQLite: the FTS5 table kb_articles_fts (porter stemming), ranked by bm25 with the title weighted
10 to the body's 1. The user's text is turned into an FTS5 expression of quoted terms, never passed
through, so no input is a syntax error.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Uuid, and_, bindparam, case, column, delete, func, insert, literal_column, or_, select, table, text
from sqlalchemy.orm import Session

from crm_core import context
from crm_db.database import Database
from crm_db.tenancy import Prefetch, TenantGuardError, defer
from tickets.models.kb import FTS_TABLE, KbArticle, KbSearchEntry

# The language subtag of a BCP 47 locale -> a PostgreSQL text search configuration.
CONFIGS = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "da": "danish", "nl": "dutch",
    "en": "english", "fi": "finnish", "fr": "french", "de": "german", "el": "greek", "hi": "hindi",
    "hu": "hungarian", "id": "indonesian", "ga": "irish", "it": "italian", "lt": "lithuanian", "ne": "nepali",
    "no": "norwegian", "nb": "norwegian", "nn": "norwegian", "pt": "portuguese", "ro": "romanian",
    "ru": "russian", "sr": "serbian", "es": "spanish", "sv": "swedish", "ta": "tamil", "tr": "turkish",
    "yi": "yiddish",
}
FALLBACK_CONFIG = "simple"  # no stemming, no stop words: right for any language, best for none
# D, C, B, A: a title hit (A) is worth five body hits (B). Normalisation 1: divided by
# 1 + log(length), so a long article does not win by repeating a word.
PG_WEIGHTS = "{0.05,0.1,0.2,1.0}"
PG_NORMALISATION = 1
FTS_WEIGHTS = (10.0, 1.0)  # bm25 per column: title, body
MAX_TERMS = 32  # words of a ticket's subject and description matched for suggestions
# Dropped from a ticket's text before matching any of its words (FTS5 has no stop words; on
# PostgreSQL the language configuration drops these and more).
STOP_WORDS = frozenset(
    "about after again also and any are because been before but can cannot could did does doing don done for from "
    "get got had has have having her here hers him his how into its just like more most not now off once only other "
    "our out over please same she should some such than that the their them then there these they this those thanks "
    "too under until very was were what when where which while who why will with would you your yours".split())
_WORD = re.compile(r"\w+", re.UNICODE)
_TOKEN = re.compile(r'"([^"]*)"?|(\S+)')

fts = table(FTS_TABLE, column("title"), column("body"), column("tenant_id"), column("article_id"))


def config_for(locale: str) -> str:
    return CONFIGS.get(locale.split("-", 1)[0].lower(), FALLBACK_CONFIG)


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@dataclass(frozen=True)
class Filters:
    """What a search is restricted to (AND): statuses (any of), one category, one locale."""

    statuses: tuple[str, ...] | None = None
    category: str | None = None
    locale: str | None = None

    def on(self, status: Any, category: Any, locale: Any) -> list[Any]:
        return [*([status.in_(self.statuses)] if self.statuses else []),
                *([category == self.category] if self.category else []),
                *([locale == self.locale] if self.locale else [])]


# --- keeping the index in step ----------------------------------------------------------------

entries = KbSearchEntry.__table__
_PG_VECTOR = (
    "setweight(to_tsvector(CAST(CAST(:kb_cfg AS varchar) AS regconfig), :kb_title), 'A') || "
    "setweight(to_tsvector(CAST(CAST(:kb_cfg AS varchar) AS regconfig), :kb_body), 'B')"
)
_PG_UPSERT = text(
    "INSERT INTO kb_search (tenant_id, article_id, search_config, status, locale, category, search_vector) "
    f"VALUES (:kb_tid, :kb_aid, CAST(:kb_cfg AS varchar), :kb_status, :kb_locale, :kb_category, {_PG_VECTOR}) "
    "ON CONFLICT (tenant_id, article_id) DO UPDATE SET search_config = EXCLUDED.search_config, "
    "status = EXCLUDED.status, locale = EXCLUDED.locale, category = EXCLUDED.category, "
    "search_vector = EXCLUDED.search_vector"
).bindparams(bindparam("kb_tid", type_=Uuid()), bindparam("kb_aid", type_=Uuid()))


def index(session: Session, article: KbArticle) -> None:
    """(Re)index one article in the caller's transaction."""
    tenant = context.require_tenant()
    if article.tenant_id != tenant:
        raise TenantGuardError("kb article of another tenant")
    if _postgres(session):
        # Goes out with the COMMIT (or before the next statement): no round trip of its own.
        defer(session, _PG_UPSERT, {"kb_tid": tenant, "kb_aid": article.id, "kb_cfg": config_for(article.locale),
                                    "kb_status": article.status, "kb_locale": article.locale,
                                    "kb_category": article.category, "kb_title": article.title,
                                    "kb_body": article.body_text})
        return
    unindex(session, article.id)
    session.execute(insert(fts).values(title=article.title, body=article.body_text,
                                       tenant_id=tenant.hex, article_id=article.id.hex))


def unindex(session: Session, article_id: uuid.UUID) -> None:
    tenant = context.require_tenant()
    if _postgres(session):
        session.execute(delete(entries).where(entries.c.tenant_id == tenant, entries.c.article_id == article_id))
    else:
        session.execute(delete(fts).where(fts.c.tenant_id == tenant.hex, fts.c.article_id == article_id.hex))


# --- queries ---------------------------------------------------------------------------------

def _terms(query: str) -> list[tuple[str, list[str]]]:
    """websearch-like tokens: ("or", []), ("not", words), ("and", words); a phrase keeps its words."""
    out: list[tuple[str, list[str]]] = []
    for phrase, word in _TOKEN.findall(query):
        if word and word.lower() == "or":
            out.append(("or", []))
            continue
        negated = bool(word) and word.startswith("-") and len(word) > 1
        words = _WORD.findall(phrase if not word else word)
        if words:
            out.append(("not" if negated else "and", [w.lower() for w in words]))
    return out


def fts_expression(query: str, *, match_any: bool = False) -> str | None:
    """An FTS5 MATCH expression for the user's text (None when it has no words)."""
    parts: list[str] = []
    pending_or = False
    for op, words in _terms(query):
        if op == "or":
            pending_or = bool(parts)
            continue
        quoted = '"' + " ".join(words) + '"'  # \w+ words only: nothing to escape
        if op == "not":
            if parts and not match_any:  # FTS5's NOT is binary: a leading -word has nothing to cut from
                parts.append(f"NOT {quoted}")
        elif parts:
            parts.append(f"{'OR' if pending_or or match_any else 'AND'} {quoted}")
        else:
            parts.append(quoted)
        pending_or = False
    return " ".join(parts) or None


def any_words(text_: str) -> str:
    """A websearch query matching any of the text's words (ticket suggestions): `a or b or c`."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text_ or ""):
        lower = word.lower()
        if len(word) >= 3 and not word.isdigit() and lower not in STOP_WORDS:
            seen.setdefault(lower, None)
        if len(seen) >= MAX_TERMS:
            break
    return " or ".join(seen)


def search(session: Session, query: str, columns: Sequence[Any], filters: Filters = Filters(), *,
           limit: int = 20, offset: int = 0, match_any: bool = False) -> list[Any]:
    """Rows of `columns` (KbArticle columns) for the best matches first, each with a `rank`
    (higher is better on both engines) as its last value."""
    if match_any:
        query = any_words(query)
    if not query.strip():
        return []
    tenant = context.require_tenant()
    if _postgres(session):
        return _search_pg(session, query, columns, filters, tenant, limit, offset)
    return _search_sqlite(session, query, columns, filters, tenant, limit, offset, match_any)


# The tenant's configurations, distinct: a loose index scan of kb_search_tenant_config_idx (one
# probe per configuration, however many articles). Scoped by hand, like every Prefetch.
_CONFIGS = text(
    "WITH RECURSIVE c(cfg) AS ("
    " (SELECT search_config FROM kb_search WHERE tenant_id = :kbt ORDER BY search_config LIMIT 1)"
    " UNION ALL SELECT (SELECT search_config FROM kb_search WHERE tenant_id = :kbt AND search_config > c.cfg"
    " ORDER BY search_config LIMIT 1) FROM c WHERE c.cfg IS NOT NULL"
    ") SELECT cfg FROM c WHERE cfg IS NOT NULL"
)
_CONFIGS_READ = "kb_search_configs"  # session.info: what configs_prefetch read
_KNOWN_CONFIGS = frozenset({*CONFIGS.values(), FALLBACK_CONFIG})


def configs_prefetch(db: Database) -> list[Prefetch]:
    """The read a search without a locale needs, to go out with the transaction's BEGIN (one round
    trip with it on PostgreSQL); none on SQLite, whose path needs no configurations."""
    if db.engine.dialect.name != "postgresql":
        return []

    def store(session: Session, rows: Sequence[Any]) -> None:
        session.info[_CONFIGS_READ] = [r[0] for r in rows]

    return [Prefetch(_CONFIGS, {"kbt": context.require_tenant()}, store)]


def _configs(session: Session, tenant: uuid.UUID, locale: str | None) -> list[str]:
    if locale is not None:
        return [config_for(locale)]
    found = session.info.pop(_CONFIGS_READ, None)
    if found is None:
        found = [r[0] for r in session.execute(_CONFIGS, {"kbt": tenant})]
    # Inlined as literals below (the planner costs a GIN scan only for a known query): our names only.
    return [c for c in found if c in _KNOWN_CONFIGS]


def _search_pg(session: Session, query: str, columns: Sequence[Any], filters: Filters, tenant: uuid.UUID,
               limit: int, offset: int) -> list[Any]:
    configs = _configs(session, tenant, filters.locale)
    if not configs:
        return []
    text_query = bindparam("kb_q", query)
    tsq = {c: func.websearch_to_tsquery(literal_column(f"'{c}'::regconfig"), text_query) for c in configs}
    # Each article against the query in its own configuration: a stemmed query only matches
    # vectors stemmed alike. One configuration (the usual case) is one GIN scan; several, a BitmapOr.
    e = entries.c
    matches = [and_(e.search_config == c, e.search_vector.op("@@")(q)) for c, q in tsq.items()]
    own_query = tsq[configs[0]] if len(configs) == 1 else case(*((e.search_config == c, q) for c, q in tsq.items()))
    weights = literal_column(f"'{PG_WEIGHTS}'::float4[]")
    rank = func.ts_rank_cd(weights, e.search_vector, own_query, literal_column(str(PG_NORMALISATION))).label("rank")
    hits = (select(e.article_id, rank)
            .where(e.tenant_id == tenant, or_(*matches), *filters.on(e.status, e.category, e.locale))
            .order_by(rank.desc(), e.article_id).limit(limit).offset(offset).subquery("hits"))
    # The page's articles by primary key, under RLS like any read of kb_articles.
    stmt = (select(*columns, hits.c.rank).join_from(KbArticle, hits, KbArticle.id == hits.c.article_id)
            .where(KbArticle.tenant_id == tenant).order_by(hits.c.rank.desc(), KbArticle.id))
    return list(session.execute(stmt).all())


def _search_sqlite(session: Session, query: str, columns: Sequence[Any], filters: Filters,
                   tenant: uuid.UUID, limit: int, offset: int, match_any: bool) -> list[Any]:
    expression = fts_expression(query, match_any=match_any)
    if expression is None:
        return []
    table_ref = literal_column(FTS_TABLE)
    # bm25 is lower-is-better; negated so that both engines sort rank descending.
    rank = (-func.bm25(table_ref, *FTS_WEIGHTS)).label("rank")
    stmt = (select(*columns, rank)
            .join_from(KbArticle, fts, fts.c.article_id == KbArticle.id)
            .where(table_ref.op("MATCH")(expression), fts.c.tenant_id == tenant.hex, KbArticle.tenant_id == tenant,
                   *filters.on(KbArticle.status, KbArticle.category, KbArticle.locale))
            .order_by(rank.desc(), KbArticle.id).limit(limit).offset(offset))
    return list(session.execute(stmt).all())
