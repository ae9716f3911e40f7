"""PlanMemo: a batch's lines that differ only in their prompts are planned once, and every line is still judged.

Catalog and settings only: no network, no store.
"""

from __future__ import annotations

import pytest

from veokit import errors as E
from veokit.config import Settings
from veokit.models.catalog import default_catalog
from veokit.models.request import GenerateRequest
from veokit.service.planning import PlanMemo, plan_request

CATALOG = default_catalog()


def memo(provider: str = "vertex") -> tuple[PlanMemo, Settings]:
    settings = Settings(provider=provider)
    return PlanMemo(CATALOG, settings), settings


def req(prompt: str = "a paper boat on a pond", **fields: object) -> GenerateRequest:
    return GenerateRequest.build(prompt=prompt, **{"duration_seconds": 4, **fields})


def test_a_shared_plan_is_the_plan_the_line_would_have_had_alone() -> None:
    planner, settings = memo()
    # Named by family: every line is sent with the provider's own model id, as planned alone.
    lines = [req(f"shot {i}", model="veo-3.1-fast", seed=i) for i in range(5)]
    shared = [planner.plan(r, None) for r in lines]
    alone = [plan_request(r, None, catalog=CATALOG, settings=settings) for r in lines]
    assert [(p.request, p.provider, p.offer, p.estimate) for p in shared] == [
        (p.request, p.provider, p.offer, p.estimate) for p in alone
    ]
    assert {p.request.model for p in shared} == {"veo-3.1-fast-generate-001"}
    assert [p.request.prompt for p in shared] == [f"shot {i}" for i in range(5)]


def test_a_bad_line_among_identical_good_ones_is_refused_every_time() -> None:
    planner, _ = memo()
    good = req()
    for _ in range(3):
        planner.plan(good, None)
    with pytest.raises(E.InvalidRequest, match="duration_seconds: 5 s is not supported"):
        planner.plan(req(duration_seconds=5), None)
    planner.plan(req("another prompt"), None)  # the good shape is still good
    with pytest.raises(E.InvalidRequest, match="duration_seconds: 5 s is not supported"):
        planner.plan(req("same shape, other words", duration_seconds=5), None)  # the bad shape is still bad
    with pytest.raises(E.InvalidRequest, match="negative_prompt"):
        memo("kie")[0].plan(
            req(negative_prompt="blur", duration_seconds=8), None
        )  # what planning reads of the text: whether it is there


def test_option_values_equal_in_python_but_not_in_json_are_judged_apart() -> None:
    planner, _ = memo("kie")
    planner.plan(req(options={"enableTranslation": True}, duration_seconds=8), None)
    with pytest.raises(E.InvalidRequest, match="enableTranslation"):
        planner.plan(
            req(options={"enableTranslation": 1}, duration_seconds=8), None
        )  # 1 == True in Python; not a bool to Kie


def test_prices_that_read_the_prompt_are_never_shared() -> None:
    planner, settings = memo("omni")
    model = "gemini-omni-1.2-flash"
    short, long = req("a fox", model=model, duration_seconds=8), req("a fox " * 1000, model=model, duration_seconds=8)
    planner.plan(short, None)
    got = planner.plan(long, None)
    assert got.estimate == plan_request(long, None, catalog=CATALOG, settings=settings).estimate
    assert got.estimate.total_usd > planner.plan(short, None).estimate.total_usd
