"""The reasoning step after recall: recalled items → short guidance for the agent's current step.

Why: a recalled context is evidence, not advice; an agent (or a weaker model driving it) does
better with two or three sentences that say what memory implies for the step at hand, with
the ids of what that rests on. One call of the "reason" model writes them, or says nothing
recalled is relevant (then there is no guidance). Without a model, or when the model fails
(unusable or cut answers, provider errors, all counted), the guidance is extractive: the best
current facts, procedure steps and turns among the recalled items, as they were recalled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from plugmem.errors import LLMJSONError, LLMTruncatedError
from plugmem.llm import WINDOW_HEADROOM, invoke_structured, max_input_tokens
from plugmem.model import LLMUsage
from plugmem.prompts import Prompts
from plugmem.results import Guidance, RecallItem
from plugmem.tokens import TokenCounter

log = logging.getLogger("plugmem")

ITEM_CHARS = 500  # one recalled item as the model sees it
EXTRACTIVE_ITEMS = 3  # items in an extractive guidance
RELATIVE_FLOOR = 0.5  # of the best item's score, for an item to be part of it
GUIDANCE_TOKENS = 200  # cap on an extractive guidance


class GuidanceOut(BaseModel):
    """The reason model's answer."""

    relevant: bool
    guidance: str = ""
    used: list[int] = Field(default_factory=list, description="numbers of the memories used")


def _label(item: RecallItem) -> str:
    kind = "fact" if item.kind == "knowledge" else item.kind
    label = f"{kind} {item.timestamp:%Y-%m-%d}" if item.timestamp else kind
    return label + (", superseded" if item.valid_until is not None or item.superseded_by else "")


def messages(query: str, items: Sequence[RecallItem], prompts: Prompts) -> list[BaseMessage]:
    """The reason prompt: the query and the numbered items."""
    lines = [f"[{n}] ({_label(it)}) {it.text[:ITEM_CHARS]}" for n, it in enumerate(items, 1)]
    body = f"Query: {query}\n\nMemories:\n" + "\n".join(lines)
    return [SystemMessage(prompts.reason), HumanMessage(body)]


def _guidance(items: Sequence[RecallItem], text: str, *, llm: bool) -> Guidance:
    sources = list(dict.fromkeys(s for it in items for s in it.source_ids))
    return Guidance(text=text.strip(), source_ids=sources, item_ids=[it.id for it in items], llm=llm)


def _line(item: RecallItem) -> str:
    when = f" ({item.timestamp:%Y-%m-%d})" if item.timestamp else ""
    return f"- {' '.join(item.text.split())}{when}"


def extractive(items: Sequence[RecallItem], tokens: TokenCounter) -> Guidance | None:
    """The best recalled facts, procedure steps and turns, as recalled: no model, nothing invented.

    Told oldest first, like the recalled context. Superseded items are left out (the guidance
    is about now), and so are items scoring under `RELATIVE_FLOOR` of the best one: they were
    recalled to fill the budget, not because they answer the query.
    """
    ranked = sorted(
        (it for it in items if it.valid_until is None and not it.superseded_by), key=lambda it: -it.score
    )
    if not ranked:
        return None
    floor = RELATIVE_FLOOR * ranked[0].score
    used: list[RecallItem] = []
    size = 0
    for it in [it for it in ranked if it.score >= floor][:EXTRACTIVE_ITEMS]:
        size += tokens.count(_line(it))
        if used and size > GUIDANCE_TOKENS:
            break
        used.append(it)
    # the best items, told in the order they happened (as the recalled context is)
    used.sort(key=lambda it: (it.timestamp is None, it.timestamp or 0, it.id))
    lines = [tokens.truncate(_line(it), GUIDANCE_TOKENS) for it in used]
    return _guidance(used, "\n".join(lines), llm=False)


def _fit(
    llm: BaseChatModel, query: str, items: list[RecallItem], prompts: Prompts, tokens: TokenCounter
) -> int:
    """How many of the best items fit the model's window (all, when its profile gives none)."""
    window = max_input_tokens(llm)
    n = len(items)
    while window is not None and n > 1:
        size = sum(tokens.count(str(m.content)) for m in messages(query, items[:n], prompts))
        if size * WINDOW_HEADROOM <= window:
            break
        n -= 1
    return n


def ask(
    llm: BaseChatModel,
    query: str,
    items: Sequence[RecallItem],
    *,
    prompts: Prompts,
    tokens: TokenCounter,
    retries: int = 1,
) -> tuple[Guidance | None, LLMUsage]:
    """One guidance call (more only when an answer is cut: then about half the items).

    Raises `LLMJSONError` (with the usage of every attempt) when no usable answer came.
    """
    ranked = sorted(items, key=lambda it: -it.score)
    pool = ranked[: _fit(llm, query, ranked, prompts, tokens)]
    usage = LLMUsage()
    while True:

        def check(answer: GuidanceOut, n: int = len(pool)) -> None:
            bad = [u for u in answer.used if not 1 <= u <= n]
            if bad:
                raise ValueError(f"used numbers {bad} are not memories shown (1 to {n})")
            if answer.relevant and (not answer.guidance.strip() or not answer.used):
                raise ValueError("relevant is true: give the guidance and the numbers of the memories used")

        try:
            out, u = invoke_structured(
                llm,
                messages(query, pool, prompts),
                GuidanceOut,
                retries=retries,
                validate=check,
                counter=tokens,
            )
        except LLMTruncatedError as exc:
            usage.add(exc.usage)
            if len(pool) == 1:
                exc.usage = usage
                raise
            pool = pool[: len(pool) // 2]
            continue
        except LLMJSONError as exc:
            usage.add(exc.usage)
            exc.usage = usage
            raise
        usage.add(u)
        if not out.relevant:
            return None, usage
        used = [pool[i - 1] for i in dict.fromkeys(out.used)]
        return _guidance(used, out.guidance, llm=True), usage


def reason_over(
    query: str,
    items: Sequence[RecallItem],
    *,
    llm: BaseChatModel | None,
    prompts: Prompts,
    tokens: TokenCounter,
    ranked_items: Callable[[], Sequence[RecallItem]],
) -> tuple[Guidance | None, LLMUsage]:
    """Guidance for `query` from recalled `items`; never raises for a model's failure.

    `ranked_items` gives the items for the extractive path (the caller may re-rank, e.g. when
    recall returned the whole history unranked); it is called only when needed.
    """
    if not items:
        return None, LLMUsage()
    if llm is None:
        return extractive(ranked_items(), tokens), LLMUsage()
    try:
        return ask(llm, query, items, prompts=prompts, tokens=tokens)
    except LLMJSONError as exc:
        usage, why = exc.usage, str(exc)
    except Exception as exc:  # provider or transport error: counted, the extractive guidance stands in
        usage, why = LLMUsage(calls=1), f"{type(exc).__name__}: {exc}"
    log.warning("plugmem: the reason model failed (%s); extractive guidance used", why)
    usage.fallbacks += 1
    return extractive(ranked_items(), tokens), usage
