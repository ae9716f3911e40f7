"""Provider options: the settings one provider has and the others do not (Kie's ``watermark``, fal's
``safety_tolerance``, Vertex's ``compressionQuality``...).

Each provider declares its options in its module (``OPTIONS``, part of its ``ProviderSpec``); a request
carries them in :attr:`GenerateRequest.options` by name. They are checked like every other field, before
anything is sent: an option the provider does not know is an :class:`InvalidRequest` naming the options it
does know, a bad value names the values it takes, and a deprecated option is accepted with a warning. Names
match case-insensitively (a CSV header or a shell may fold case); the canonical spelling is what is stored
and fingerprinted. Values arrive as JSON scalars or as text (``--option enableTranslation=false``) and are
parsed to the option's type, so ``"false"`` and ``false`` are the same request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from veokit.errors import InvalidRequest
from veokit.models.request import OptionValue

OptionKind = Literal["bool", "int", "str", "choice"]
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")
MAX_TEXT = 200  # a free-text option (Kie's watermark) is a short label, not a document


@dataclass(frozen=True)
class ProviderOption:
    """One option: how the user names it, its type and range, and the field it becomes on the wire."""

    name: str
    kind: OptionKind
    help: str
    wire: str = ""  # the wire field; default: the name
    choices: tuple[str, ...] = ()  # kind "choice"
    minimum: int | None = None  # kind "int"
    maximum: int | None = None
    max_length: int = MAX_TEXT  # kind "str"
    default: str | None = None  # the provider's own default, for help only: veokit sends nothing unless asked
    only_for: frozenset[str] = frozenset()  # request features one of which it needs (e.g. image_to_video)
    not_for: frozenset[str] = frozenset()  # request features it cannot be combined with
    deprecated: str | None = None  # accepted and sent, with this warning

    @property
    def wire_name(self) -> str:
        return self.wire or self.name

    def allowed(self) -> list[Any]:
        if self.kind == "bool":
            return [True, False]
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int" and self.minimum is not None and self.maximum is not None:
            return [self.minimum, self.maximum]
        return []

    def describe(self) -> str:
        """``safety_tolerance (1|2|3|4|5|6, default 4): ...`` for help texts and tool descriptions."""
        if self.kind == "choice":
            shape = "|".join(self.choices)
        elif self.kind == "int" and self.minimum is not None and self.maximum is not None:
            shape = f"{self.minimum}..{self.maximum}"
        else:
            shape = {"bool": "true|false", "int": "integer", "str": "text"}[self.kind]
        default = f", default {self.default}" if self.default is not None else ""
        note = " Deprecated." if self.deprecated else ""
        return f"{self.name} ({shape}{default}): {self.help}{note}"

    def parse(self, value: object, provider: str) -> OptionValue:
        """The typed value, or :class:`InvalidRequest` naming what this option takes."""
        field = f"options.{self.name}"

        def bad(why: str) -> InvalidRequest:
            shown = ", ".join(str(a).lower() if isinstance(a, bool) else str(a) for a in self.allowed())
            allowed = f" (allowed: {shown})" if shown else ""
            return InvalidRequest(f"{field}: {why}{allowed}", field=field, allowed=self.allowed(), provider=provider)

        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower() if isinstance(value, str) else None
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise bad(f"{value!r} is not true or false")
        if self.kind == "int":
            number: int | None = None
            if isinstance(value, int) and not isinstance(value, bool):
                number = value
            elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
                number = int(value.strip())
            if number is None:
                raise bad(f"{value!r} is not a whole number")
            if (self.minimum is not None and number < self.minimum) or (
                self.maximum is not None and number > self.maximum
            ):
                raise bad(f"{number} is out of range")
            return number
        if self.kind == "choice":
            # fal's enums are strings of digits ("4"): a JSON 4 means the same.
            text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else None
            for choice in self.choices:
                if text is not None and text.strip().lower() == choice.lower():
                    return choice
            raise bad(f"{value!r} is not one of its values")
        if not isinstance(value, str) or not value.strip():
            raise bad("must be non-empty text")
        if len(value) > self.max_length:
            raise bad(f"is {len(value)} characters; at most {self.max_length}")
        return value


@dataclass(frozen=True)
class CheckedOptions:
    values: dict[str, OptionValue]  # canonical names, typed values
    warnings: tuple[str, ...] = ()


def _lookup(declared: Sequence[ProviderOption], key: str) -> ProviderOption | None:
    wanted = key.strip().lower()
    return next((o for o in declared if o.name.lower() == wanted), None)


def unknown_option(provider: str, key: str, declared: Sequence[ProviderOption]) -> InvalidRequest:
    names = [o.name for o in declared]
    known = f"its options: {', '.join(names)}" if names else "it takes no options"
    return InvalidRequest(
        f"options.{key}: {provider} has no option {key!r} ({known})",
        field=f"options.{key}",
        allowed=names,
        provider=provider,
    )


def check_options(
    provider: str,
    declared: Sequence[ProviderOption],
    given: Mapping[str, object],
    features: Iterable[str] = (),
) -> CheckedOptions:
    """Validate ``given`` against ``declared`` for a request using ``features`` (``GenerateRequest.features()``)."""
    used = set(features)
    values: dict[str, OptionValue] = {}
    warnings: list[str] = []
    for key, raw in given.items():
        option = _lookup(declared, key)
        if option is None:
            raise unknown_option(provider, key, declared)
        if option.name in values:
            raise InvalidRequest(
                f"options.{option.name}: given twice ({key!r})", field=f"options.{option.name}", provider=provider
            )
        values[option.name] = option.parse(raw, provider)
        field = f"options.{option.name}"
        if option.only_for and not option.only_for & used:
            needs = " or ".join(sorted(f.replace("_", " ") for f in option.only_for))
            raise InvalidRequest(f"{field}: only applies to {needs} requests", field=field, provider=provider)
        clash = sorted(option.not_for & used)
        if clash:
            what = clash[0].replace("_", " ")
            raise InvalidRequest(f"{field}: {provider} does not take it with {what}", field=field, provider=provider)
        if option.deprecated:
            warnings.append(f"{provider}: option {option.name} is deprecated ({option.deprecated}); sent anyway")
    return CheckedOptions(values, tuple(warnings))


def to_wire(provider: str, declared: Sequence[ProviderOption], given: Mapping[str, object]) -> dict[str, Any]:
    """The wire fields for ``given`` (checked again: a provider never sends an option it does not know)."""
    out: dict[str, Any] = {}
    for key, raw in given.items():
        option = _lookup(declared, key)
        if option is None:
            raise unknown_option(provider, key, declared)
        out[option.wire_name] = option.parse(raw, provider)
    return out
