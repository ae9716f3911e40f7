"""Build a framework-facing function from a toolkit method, keeping its parameters, types and descriptions.

Strands and MCP both derive a tool's input schema from a function's signature and type hints. Rather than
restate every parameter for each framework (and let them drift), the adapters take the toolkit method's
signature, with ``Annotated`` hints resolved, and give it to a thin forwarding function.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, get_args, get_origin, get_type_hints


def method_signature(method: Callable[..., Any]) -> inspect.Signature:
    """The bound method's parameters with their annotations resolved (``Annotated`` extras kept)."""
    hints = get_type_hints(method, include_extras=True)
    sig = inspect.signature(method)
    params = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in sig.parameters.values()]
    return sig.replace(parameters=params, return_annotation=inspect.Signature.empty)


def present_as(fn: Callable[..., Any], *, name: str, doc: str, signature: inspect.Signature) -> None:
    """Make ``fn`` look like a function with this name, docstring and signature to introspection."""
    fn.__name__ = name
    fn.__qualname__ = name
    fn.__doc__ = doc
    fn.__signature__ = signature  # type: ignore[attr-defined]
    fn.__annotations__ = {
        p.name: p.annotation for p in signature.parameters.values() if p.annotation is not inspect.Parameter.empty
    }
    if signature.return_annotation is not inspect.Signature.empty:
        fn.__annotations__["return"] = signature.return_annotation


def description_of(annotation: Any) -> tuple[Any, str | None]:
    """Split ``Annotated[T, "text"]`` into ``(T, "text")``; other annotations pass through."""
    if get_origin(annotation) is Annotated:
        base, *extras = get_args(annotation)
        texts = [e for e in extras if isinstance(e, str)]
        return base, (texts[0] if texts else None)
    return annotation, None


def with_pydantic_descriptions(signature: inspect.Signature) -> inspect.Signature:
    """``Annotated[T, "text"]`` → ``Annotated[T, Field(description="text")]`` (what pydantic-based MCP reads)."""
    from pydantic import Field

    params = []
    for p in signature.parameters.values():
        base, text = description_of(p.annotation)
        params.append(p.replace(annotation=Annotated[base, Field(description=text)]) if text else p)
    return signature.replace(parameters=params)
