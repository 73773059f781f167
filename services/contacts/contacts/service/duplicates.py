"""Duplicate suggestions for a contact or a company, ranked by a score from 0 to 1.

Candidates come only from indexed lookups, each capped, never from loading the tenant: equal phone
(phone index), equal email (unique email index; additional emails: GIN index on PostgreSQL), and
for name similarity only people of the same company (company index) or email domain (trigram
index over the search text on PostgreSQL), narrowed in SQL to those sharing a name word.
rapidfuzz then scores names.
Each signal has a strength; a candidate's score combines them like independent evidence
(1 - prod(1 - strength)), so two signals outrank either alone.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import ColumnElement, Select, false, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from contacts.models import Company, Contact

NAME_THRESHOLD = 85  # token_sort_ratio: "Jon Smith" ~ "John Smith" (95), "John Smith" ~ "Smith John" (100)
MAX_RESULTS = 20
PER_QUERY = 200  # candidates one lookup may bring
MAX_EMAILS = 20
FREE_MAIL = frozenset({
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "yahoo.com", "ymail.com",
    "icloud.com", "me.com", "mac.com", "aol.com", "web.de", "t-online.de", "freenet.de", "proton.me", "protonmail.com",
    "pm.me", "mail.com", "zoho.com", "yandex.com", "yandex.ru", "mail.ru", "qq.com", "163.com", "126.com", "orange.fr",
    "free.fr", "laposte.net", "libero.it", "gmx.net",
})
# Providers with a domain per country (gmx.de, gmx.at, yahoo.co.uk, hotmail.fr, ...).
FREE_MAIL_NAMES = frozenset({"gmx", "yahoo", "hotmail", "outlook", "live", "yandex"})
# Second-level labels under a country code: acme.co.uk and acme.com.au are "acme" like acme.com.
# A heuristic instead of the whole public suffix list: these cover the common company domains.
SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "edu", "ac", "ltd", "plc", "or", "ne", "go", "gob", "gv"})
LEGAL_FORMS = frozenset({"inc", "incorporated", "ltd", "limited", "llc", "llp", "plc", "gmbh", "ag", "kg", "sa", "sas",
                         "sarl", "srl", "spa", "bv", "nv", "ab", "as", "oy", "corp", "corporation", "co", "company",
                         "the", "pty", "pte", "kk"})
WEIGHTS = {"same_email": 0.9, "same_phone": 0.75, "same_domain_name": 0.7}


@dataclass
class Suggestion:
    record: Any
    signals: dict[str, float] = field(default_factory=dict)  # reason -> strength

    @property
    def score(self) -> float:
        remaining = 1.0
        for strength in self.signals.values():
            remaining *= 1.0 - strength
        return round(1.0 - remaining, 3)

    @property
    def reasons(self) -> list[str]:
        return sorted(self.signals, key=lambda r: -self.signals[r])


def words(text: str | None) -> list[str]:
    """Lower case, accents dropped, punctuation as spaces: "José-Luis O'Neil" -> ["jose", "luis", "o", "neil"]."""
    if not text:
        return []
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^\w]+", " ", plain).split()


def name_similarity(a: list[str], b: list[str]) -> float:
    """0..100; 0 when either name is missing."""
    if not a or not b:
        return 0.0
    return float(fuzz.token_sort_ratio(" ".join(a), " ".join(b)))


def name_strength(similarity: float) -> float:
    """0.45 at the threshold up to 0.85 for equal names."""
    return 0.45 + 0.4 * (similarity - NAME_THRESHOLD) / (100 - NAME_THRESHOLD)


def email_domain(email: str | None) -> str | None:
    return email.rsplit("@", 1)[1] if email and "@" in email else None


def registrable_name(domain: str | None) -> str | None:
    """"eu.acme.co.uk" -> "acme"; "acme.com" -> "acme"."""
    labels = (domain or "").split(".")
    if len(labels) < 2:
        return None
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in SECOND_LEVEL:
        return labels[-3]
    return labels[-2]


def is_free_mail(domain: str) -> bool:
    return domain in FREE_MAIL or registrable_name(domain) in FREE_MAIL_NAMES


def _like(column: Any, fragment: str) -> ColumnElement[bool]:
    """Substring match with the pattern built here, so PostgreSQL's planner sees it and can use the trigram index."""
    escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(f"%{escaped}%", escape="\\")


def _any_like(column: Any, fragments: Iterable[str]) -> ColumnElement[bool]:
    conditions = [_like(column, f) for f in fragments]
    return or_(*conditions) if conditions else false()


def _contact_name(contact: Contact) -> list[str]:
    return words(f"{contact.first_name or ''} {contact.last_name or ''}")


def _name_fragments(contact: Contact) -> set[str]:
    """Name words as search_text holds them (lower case, accents kept) and without accents."""
    raw = re.sub(r"[^\w]+", " ", f"{contact.first_name or ''} {contact.last_name or ''}".lower()).split()
    return {w for w in [*raw, *_contact_name(contact)] if len(w) >= 2}


def _emails(contact: Contact) -> set[str]:
    return {e for e in [contact.email, *(contact.emails or [])][:MAX_EMAILS] if e}


def contact_candidate_queries(contact: Contact, dialect: str) -> list[Select[tuple[Contact]]]:
    """The lookups, each an indexed query capped at PER_QUERY rows (also EXPLAINed by the PostgreSQL test)."""
    base = select(Contact).where(Contact.id != contact.id).limit(PER_QUERY)
    queries = []
    if contact.phone:
        queries.append(base.where(Contact.phone == contact.phone))
    emails = _emails(contact)
    if emails:
        # Their primary email (unique index), or one of their additional ones. Separate queries, not
        # an OR: an OR arm without tenant_id cannot use the (tenant_id, email) index.
        queries.append(base.where(Contact.email.in_(sorted(emails))))
        if dialect == "postgresql":  # GIN index contacts_emails_gin (tenant_id, emails)
            others = type_coerce(Contact.emails, JSONB())
            queries.append(base.where(or_(*(others.contains([e]) for e in sorted(emails)))))
        else:
            queries.append(base.where(_any_like(Contact.search_text, sorted(emails))))
    fragments = sorted(_name_fragments(contact))
    if fragments:
        similar = _any_like(Contact.search_text, fragments)
        domains = sorted({d for d in map(email_domain, emails) if d and not is_free_mail(d)})
        if domains:
            queries.append(base.where(_any_like(Contact.search_text, [f"@{d}" for d in domains]), similar))
        if contact.company_id:
            queries.append(base.where(Contact.company_id == contact.company_id, similar))
        if contact.company_name:
            queries.append(base.where(_like(Contact.search_text, contact.company_name.lower()), similar))
    return queries


def contact_duplicates(session: Session, contact: Contact) -> list[Suggestion]:
    found: dict[uuid.UUID, Contact] = {}
    for query in contact_candidate_queries(contact, session.get_bind().dialect.name):
        for candidate in session.scalars(query):
            found.setdefault(candidate.id, candidate)
    name, emails = _contact_name(contact), _emails(contact)
    domains = {d for d in map(email_domain, emails) if d and not is_free_mail(d)}
    company_name = words(contact.company_name)
    suggestions = []
    for candidate in found.values():
        signals: dict[str, float] = {}
        if contact.phone and candidate.phone == contact.phone:
            signals["same_phone"] = WEIGHTS["same_phone"]
        theirs = _emails(candidate)
        if emails & theirs:
            signals["same_email"] = WEIGHTS["same_email"]
        similarity = name_similarity(name, _contact_name(candidate))
        if similarity >= NAME_THRESHOLD:
            # One name-based signal at most: the name is one piece of evidence, however it is found.
            strength = name_strength(similarity)
            if (contact.company_id is not None and candidate.company_id == contact.company_id) or (
                    company_name and words(candidate.company_name) == company_name):
                signals["similar_name_same_company"] = strength
            elif "same_email" not in signals and domains & {email_domain(e) for e in theirs}:
                signals["same_email_domain_similar_name"] = strength
            elif signals:
                signals["similar_name"] = strength / 2  # backs up a phone or email match
        if signals:
            suggestions.append(Suggestion(candidate, signals))
    return _ranked(suggestions)


def _company_name(company: Company) -> list[str]:
    return [w for w in words(company.name) if w not in LEGAL_FORMS] or words(company.name)


def company_candidate_queries(company: Company) -> list[Select[tuple[Company]]]:
    base = select(Company).where(Company.id != company.id).limit(PER_QUERY)
    queries = []
    significant = [w for w in _company_name(company) if len(w) >= 3]
    if significant:  # companies sharing a name word (search_text: "name domain", trigram-indexed on PostgreSQL)
        queries.append(base.where(_any_like(Company.search_text, significant)))
    label = registrable_name(company.domain)
    if label:
        queries.append(base.where(_like(Company.search_text, f"{label}.")))
    return queries


def company_duplicates(session: Session, company: Company) -> list[Suggestion]:
    found: dict[uuid.UUID, Company] = {}
    for query in company_candidate_queries(company):
        for candidate in session.scalars(query):
            found.setdefault(candidate.id, candidate)
    name, label = _company_name(company), registrable_name(company.domain)
    suggestions = []
    for candidate in found.values():
        signals: dict[str, float] = {}
        if label and registrable_name(candidate.domain) == label:
            signals["same_domain_name"] = WEIGHTS["same_domain_name"]
        similarity = name_similarity(name, _company_name(candidate))
        if similarity >= NAME_THRESHOLD:
            signals["similar_name"] = name_strength(similarity)
        if signals:
            suggestions.append(Suggestion(candidate, signals))
    return _ranked(suggestions)


def _ranked(suggestions: list[Suggestion]) -> list[Suggestion]:
    suggestions.sort(key=lambda s: (-s.score, str(s.record.id)))
    return suggestions[:MAX_RESULTS]
