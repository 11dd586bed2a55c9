"""A local model keeps its fixed system prompt evaluated (prepare / reset_all(prime=True)) and reports llama.cpp's own
counters for each answer; real SmolLM2 in its worker process, on each llama.cpp runtime."""

from __future__ import annotations

import pytest

from rag.answering.prompting import SYSTEM
from rag.providers.base import Prompt, get_model
from rag.providers.llamacpp import LlamaCppModel, reset_all


def prompt(question: str) -> Prompt:
    return Prompt(question=question, sources=(), max_tokens=4, temperature=0.0, messages=(
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"Sources:\n<source id=\"1\">\nIt rained in Oslo on Tuesday.\n</source>\n\n"
                                    f"Question: {question}"},
    ))


@pytest.fixture(scope="module", params=["xllamacpp", "llama-cpp-python"])
def smollm2(request: pytest.FixtureRequest) -> LlamaCppModel:
    # n_ctx differs from other test modules' so this module's workers (and their caches) are its own
    return LlamaCppModel("smollm2-135m", n_ctx=1984, runtime=request.param).load()


@pytest.mark.slow
def test_a_primed_system_prompt_is_not_evaluated_again(smollm2: LlamaCppModel) -> None:
    prefix = smollm2.prepare([{"role": "system", "content": SYSTEM}])
    assert prefix > smollm2.count_tokens(SYSTEM) // 2

    reset_all(prime=False)
    "".join(smollm2.generate(prompt("Where did it rain?")))
    cold = smollm2.last_timings
    reset_all(prime=True)
    "".join(smollm2.generate(prompt("Where did it rain?")))
    warm = smollm2.last_timings

    assert cold["generated_tokens"] >= 1 and cold["prompt_ms"] > 0
    # the same prompt both times: only the primed prefix (minus its one generated token) is skipped
    assert cold["prompt_eval_tokens"] - warm["prompt_eval_tokens"] >= prefix - 8
    assert warm["prompt_eval_tokens"] >= 10   # the question's own part is still read


@pytest.mark.slow
def test_a_cold_reset_forgets_the_prefix(smollm2: LlamaCppModel) -> None:
    smollm2.prepare([{"role": "system", "content": SYSTEM}])
    reset_all(prime=False)
    "".join(smollm2.generate(prompt("Which city?")))
    total = smollm2.last_timings["context_tokens"] - smollm2.last_timings["generated_tokens"]
    assert smollm2.last_timings["prompt_eval_tokens"] >= total - 1


def test_flash_attention_and_source_count_are_options() -> None:
    model = get_model("llamacpp:smollm2-135m", flash_attn="false", max_sources=3)
    assert (model.flash_attn, model.max_sources) == (False, 3)
    default = get_model("llamacpp:smollm2-135m")
    assert default.flash_attn is True and default.max_sources >= 1
    assert get_model("llamacpp:smollm2-135m", max_sources=0).max_sources is None
