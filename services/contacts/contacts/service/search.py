"""`q=`: every word must occur in the record's search text (names, emails, phones, company name).

On PostgreSQL a trigram GIN index serves these substring matches; SQLite scans (embedded mode
is for small installations). A word that looks like a phone number also matches without its
spaces, dashes or leading +, since phones are stored as E.164.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Select, and_, or_

from contacts.models import Company, Contact

MAX_WORDS = 8
_PHONE_LIKE = re.compile(r"^\+?[0-9][0-9 ()./-]{2,}$")


def search_condition(column: Any, q: str) -> Any:
    conditions = []
    text = q.strip().lower()
    if _PHONE_LIKE.match(text):
        digits = re.sub(r"\D", "", text)
        conditions.append(or_(column.contains(text, autoescape=True), column.contains(digits, autoescape=True)))
    else:
        for word in text.split()[:MAX_WORDS]:
            conditions.append(column.contains(word, autoescape=True))
    return and_(*conditions)


def search_contacts(stmt: Select[Any], q: str) -> Select[Any]:
    return stmt.where(search_condition(Contact.search_text, q))


def search_companies(stmt: Select[Any], q: str) -> Select[Any]:
    return stmt.where(search_condition(Company.search_text, q))
