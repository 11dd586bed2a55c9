"""The model seam: one small protocol, a registry keyed by provider name, and SPEC strings `provider:name`.

A model is a `Model`: a `model_id`, capability attributes (declared on the base class with defaults) and one
generator method, `generate`, that serves both streaming and non-streaming callers: it yields text pieces (one
piece when it cannot stream).

Providers register by name (`register_provider`) or through the entry-point group `article_rag.providers`,
whose entry points name a factory `(name: str, **options) -> Model`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..errors import ModelSpecError


@dataclass(frozen=True)
class Source:
    """A numbered passage offered to the model. `text` is verbatim article text."""

    n: int
    title: str
    source: str
    published_at: str
    text: str


@dataclass(frozen=True)
class Prompt:
    """Everything a model may use to answer.

    Generative models read `messages` (chat-format, already containing the numbered sources, the history and
    the question); the extractive model reads `question` and `sources` directly.
    """

    question: str
    sources: tuple[Source, ...]
    messages: tuple[dict, ...] = ()
    max_tokens: int = 256
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict, compare=False)


class Model:
    """Base class of models (the shape of simonw/llm's `Model`): capabilities are class attributes with defaults,
    so a provider declares only what differs and callers read them directly."""

    model_id: str = ""                  # the full SPEC, e.g. "llamacpp:smollm2-135m"
    can_stream: bool = False            # yields several pieces as they are produced
    generative: bool = True             # writes free text from `messages` (False: picks text from `sources`)
    context_tokens: int | None = None   # the prompt budget (None: rag.answering.prompting's default)
    source_tokens: int | None = None    # show each source cut to its sentences most relevant to the question,
                                        # about this many tokens (None: whole passages)
    max_sources: int | None = None      # show at most this many sources: those whose best sentence covers most of
                                        # the question (None: every passage that fits the context)

    def generate(self, prompt: Prompt, *, stream: bool = False) -> Iterator[str]:
        """Yield the answer text; with stream=False a single piece is fine."""
        raise NotImplementedError


CAPABILITIES = ("model_id", "can_stream", "generative", "context_tokens", "source_tokens")


def check_model(model: object) -> Model:
    """`model` if it is a Model, or declares every capability and `generate` (a plugin that does not subclass)."""
    if isinstance(model, Model):
        return model
    missing = [name for name in (*CAPABILITIES, "generate") if not hasattr(model, name)]
    if missing:
        raise ModelSpecError(f"{model!r} is not a model (it lacks {', '.join(missing)}): pass a SPEC string such as "
                             "'extractive' or an instance of a rag.providers.base.Model subclass")
    return model  # type: ignore[return-value]


ProviderFactory = Callable[..., Model]
_PROVIDERS: dict[str, ProviderFactory] = {}
_ENTRY_POINTS_LOADED = False
ENTRY_POINT_GROUP = "article_rag.providers"


def register_provider(name: str, factory: ProviderFactory) -> None:
    """Make `name:MODEL` SPEC strings build models with `factory(MODEL, **options)`."""
    _PROVIDERS[name] = factory


def checked_options(provider: str, options: dict, allowed: set[str] | frozenset[str]) -> dict:
    """Drop options left unset (None); an option the provider does not take is a ModelSpecError naming the valid ones."""
    options = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ModelSpecError(
            f"the {provider} provider takes no option {', '.join(unknown)}; it takes {', '.join(sorted(allowed))}"
        )
    return options


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _PROVIDERS:
            _PROVIDERS[ep.name] = ep.load()


def providers() -> list[str]:
    _builtin()
    _load_entry_points()
    return sorted(_PROVIDERS)


def parse_spec(spec: str) -> tuple[str, str]:
    """'llamacpp:qwen2.5-0.5b' -> ('llamacpp', 'qwen2.5-0.5b'); 'extractive' -> ('extractive', '')."""
    spec = (spec or "").strip()
    if not spec:
        raise ModelSpecError("empty model SPEC; use 'extractive', 'llamacpp:NAME_OR_PATH' or 'openai:MODEL'")
    provider, _, name = spec.partition(":")
    return provider.strip().lower(), name.strip()


def get_model(spec: str, **options) -> Model:
    """Build the model a SPEC names. Options (base_url, api_key, timeout, ...) go to the provider's factory."""
    provider, name = parse_spec(spec)
    _builtin()
    if provider not in _PROVIDERS:
        _load_entry_points()
    factory = _PROVIDERS.get(provider)
    if factory is None:
        known = ", ".join(providers())
        raise ModelSpecError(f"unknown model provider {provider!r} in {spec!r}; known providers: {known}")
    return check_model(factory(name, **options))


def _builtin() -> None:
    # Imported lazily so that `import rag` stays light; each module registers itself.
    if "extractive" not in _PROVIDERS:
        from ..answering import extractive  # noqa: F401
    if "llamacpp" not in _PROVIDERS:
        from . import llamacpp  # noqa: F401
    if "openai" not in _PROVIDERS:
        from . import openai  # noqa: F401
