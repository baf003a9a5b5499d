"""Who may use a hosted Boundary: the allow-list of e-mail addresses and domains.

Pure logic (no Streamlit): `ui.auth` reads the settings and the signed-in user's claims and asks
`AllowList.allows(claims)`.

Settings — two sources, combined (an address or domain listed in either is allowed):

1. `.streamlit/secrets.toml`, section `[boundary]`::

       [boundary]
       allowed_emails = ["ana@agency.example", "client.lead@client.example"]
       allowed_domains = ["agency.example"]

   Each value may be a list or one string of names separated by commas, semicolons or spaces.
2. Environment variables `BOUNDARY_ALLOWED_EMAILS` and `BOUNDARY_ALLOWED_DOMAINS`, same string form
   (handy for containers: `-e BOUNDARY_ALLOWED_DOMAINS=agency.example`).

Rules (decided here, documented in the README):
- Sign-in on but nothing listed → nobody is allowed (fails closed: a provider such as Google lets
  any account on earth sign in). To let in everyone the provider accepts, list the domain `*`.
- Comparison is case-insensitive. A domain matches the part after the `@` exactly:
  `agency.example` allows `ana@agency.example`, not `ana@mail.agency.example` nor
  `ana@evilagency.example`; a leading `@` in the setting is ignored.
- The address is the ID token's `email` claim, trusted only when `email_verified` is the boolean
  true (or the text "true", any case): false, 0, "0", "no" and a missing claim are refused — a
  multi-tenant provider may hand out an address nobody checked. A token without `email` is refused.
  Microsoft Entra ID sends no `email_verified`; its optional claim `xms_edov` ("email domain owner
  verified": the tenant that signed the user in has proven it owns the address's domain) stands in
  for it, by the same rule, only when `email_verified` is absent. Add the optional claims `email` and
  `xms_edov` to the app registration (README, "Host it for your team").
- Addresses are compared after NFKC normalisation and lower-casing, and an address that NFKC would
  change is refused: lower-casing alone turns the Kelvin sign (U+212A) into `k`, so a look-alike
  address could match a listed one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

EMAILS_ENV = "BOUNDARY_ALLOWED_EMAILS"
DOMAINS_ENV = "BOUNDARY_ALLOWED_DOMAINS"
EMAILS_KEY = "allowed_emails"
DOMAINS_KEY = "allowed_domains"
ANY_DOMAIN = "*"

_SEPARATORS = re.compile(r"[\s,;]+")
# Exactly one @ with something either side and no spaces.
_EMAIL = re.compile(r"^[^@\s]+@([^@\s]+)$")


def _names(value: object) -> list[str]:
    """A setting as a list of trimmed, lower-cased names: accepts a string or a list of strings."""
    if value is None:
        return []
    if isinstance(value, str):
        items: Iterable[object] = _SEPARATORS.split(value)
    elif isinstance(value, Iterable):
        items = [part for item in value for part in _SEPARATORS.split(str(item))]
    else:
        items = [value]
    return [unicodedata.normalize("NFKC", str(item).strip()).lower() for item in items if str(item).strip()]


def normalise_email(value: object) -> str | None:
    """`' Ana@Agency.Example '` → `'ana@agency.example'`; None when it is not one address or when
    NFKC normalisation would change it (`'\u212aim@x.example'`, with a Kelvin sign, is refused
    rather than read as `kim@x.example`)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if unicodedata.normalize("NFKC", text) != text:
        return None
    text = unicodedata.normalize("NFKC", text.lower())
    return text if _EMAIL.match(text) else None


def is_verified(value: object) -> bool:
    """Only the boolean True or the text "true" (any case) verifies an address."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


ENTRA_DOMAIN_VERIFIED = "xms_edov"


def email_from_claims(claims: Mapping[str, object]) -> str | None:
    """The signed-in user's address from the ID token's claims, or None when it can't be trusted:
    the `email` claim missing or not an address, or `email_verified` not true (`is_verified`) —
    or, from Microsoft Entra ID, which sends no `email_verified`, `xms_edov` not true.

    >>> email_from_claims({"email": "Ana@Agency.Example", "email_verified": True})
    'ana@agency.example'
    >>> email_from_claims({"email": "ana@agency.example", "xms_edov": True}) # Entra ID
    'ana@agency.example'
    >>> email_from_claims({"email": "ana@agency.example", "email_verified": False, "xms_edov": True}) is None
    True
    """
    verified = claims.get("email_verified", claims.get(ENTRA_DOMAIN_VERIFIED))
    if not is_verified(verified):
        return None
    return normalise_email(claims.get("email"))


@dataclass(frozen=True)
class AllowList:
    emails: frozenset[str]
    domains: frozenset[str]

    @classmethod
    def from_settings(cls, section: Mapping[str, object] | None,
                      environ: Mapping[str, str] | None = None) -> AllowList:
        """Union of the `[boundary]` secrets section and the environment variables."""
        section = section or {}
        environ = environ or {}
        emails = _names(section.get(EMAILS_KEY)) + _names(environ.get(EMAILS_ENV))
        domains = _names(section.get(DOMAINS_KEY)) + _names(environ.get(DOMAINS_ENV))
        return cls(frozenset(e for e in (normalise_email(x) for x in emails) if e),
                   frozenset(d.lstrip("@") for d in domains if d.lstrip("@")))

    @property
    def empty(self) -> bool:
        """Nothing listed: nobody gets in."""
        return not self.emails and not self.domains

    def allows_email(self, email: str | None) -> bool:
        """True when the address is listed, its domain is listed, or the domain `*` is listed."""
        address = normalise_email(email)
        if address is None:
            return False
        if ANY_DOMAIN in self.domains or address in self.emails:
            return True
        return address.rsplit("@", 1)[1] in self.domains

    def allows(self, claims: Mapping[str, object]) -> bool:
        """Whether the user behind these ID-token claims may use Boundary."""
        return self.allows_email(email_from_claims(claims))
