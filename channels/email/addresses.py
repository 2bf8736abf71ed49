"""Who Frontdesk is on e-mail (`SupportMailbox`) and the small address rules every e-mail module shares.

Addresses are compared lowercased: the domain part is case-insensitive by RFC 5321 and, although the local
part is not, no mail system in use today gives two mailboxes that differ only by case. A `+tag` after the
local part (sub-addressing) reaches the same mailbox: `support+x7k2@example.com` is `support@example.com`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LABEL = r"[^\W_](?:[\w-]*[^\W_])?"  # letters and digits of any script, hyphens inside
_DOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_ADDRESS = re.compile(rf"^[^@\s<>()\[\],;:\"\\]+@{_LABEL}(?:\.{_LABEL})*$")


def normalise_address(value: str) -> str:
    """An address as the e-mail modules compare it: without angle brackets or spaces, lowercased."""
    return value.strip().strip("<>").strip().lower()


def is_address(value: str) -> bool:
    """Whether `value` (already normalised) looks like a deliverable `local@domain` address."""
    return len(value) <= 254 and _ADDRESS.match(value) is not None


def split_address(address: str) -> tuple[str, str]:
    """The local part and the domain of an address (`("support", "example.com")`)."""
    local, _, domain = normalise_address(address).rpartition("@")
    if not local or not domain:
        msg = f"{address!r} is not an e-mail address (expected local@domain)"
        raise ValueError(msg)
    return local, domain


def base_address(address: str) -> str:
    """The address without its sub-address tag: `support+abc@example.com` → `support@example.com`."""
    local, domain = split_address(address)
    return f"{local.split('+', 1)[0]}@{domain}"


@dataclass(frozen=True, slots=True)
class SupportMailbox:
    """Frontdesk's identity on e-mail.

    `address` is the support address: replies come from it (with `display_name`), and per-conversation reply
    addresses are built from it (`support+<token>@example.com`). `domains` are the domains the SMTP listener
    accepts mail for (the address's own domain is always one of them). `aliases` are further addresses of
    ours that customers write to (`help@...`); mail *from* any of our addresses is never answered.
    """

    address: str
    display_name: str | None = None
    domains: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        address = normalise_address(self.address)
        if not is_address(address):
            msg = f"the support address must be local@domain, got {self.address!r}"
            raise ValueError(msg)
        if "+" in address.partition("@")[0]:
            msg = f"the support address cannot carry a +tag (reply addresses add one), got {self.address!r}"
            raise ValueError(msg)
        domains = [address.rpartition("@")[2]]
        for domain in self.domains:
            clean = domain.strip().lower().rstrip(".")
            if not _DOMAIN.match(clean):
                msg = f"{domain!r} is not a mail domain (expected something like example.com)"
                raise ValueError(msg)
            if clean not in domains:
                domains.append(clean)
        aliases = []
        for alias in self.aliases:
            clean = normalise_address(alias)
            if not is_address(clean):
                msg = f"the alias {alias!r} is not an e-mail address"
                raise ValueError(msg)
            aliases.append(clean)
        name = self.display_name.strip() if self.display_name else None
        object.__setattr__(self, "address", address)
        object.__setattr__(self, "display_name", name or None)
        object.__setattr__(self, "domains", tuple(domains))
        object.__setattr__(self, "aliases", tuple(aliases))

    @property
    def local_part(self) -> str:
        """The support address before the `@`."""
        return self.address.rpartition("@")[0]

    @property
    def domain(self) -> str:
        """The support address's domain (also the domain of the Message-IDs we create)."""
        return self.address.rpartition("@")[2]

    def receives_for(self, address: str) -> bool:
        """Whether mail to `address` is ours to accept (its domain is one of `domains`)."""
        clean = normalise_address(address)
        return is_address(clean) and clean.rpartition("@")[2] in self.domains

    def is_own(self, address: str) -> bool:
        """Whether `address` is one of ours: the support address, an alias, or either with a `+tag`."""
        clean = normalise_address(address)
        if not is_address(clean):
            return False
        return base_address(clean) in (self.address, *self.aliases)
