"""The on-disk model format, owned here and nowhere else: ``save`` and ``load``, the file names, and
the typed :class:`Manifest`.

A model folder holds, per model family, the files of that family, plus ``manifest.json`` (versions,
data and config hashes, labels, chosen hyperparameters, inner-CV and evaluation scores, the
recommended family, and the sha256 and size of every file) and ``README.md`` (the model card,
generated from the manifest). The baseline family is ``topic.joblib`` and ``stance.joblib`` (plain
scikit-learn pipelines) and, when the pipelines allow it, ``fast.npz`` (the same two models as
arrays, scored with numpy alone); the encoder family is ``encoder.onnx`` (MiniLM with mean pooling),
``tokenizer.json`` and ``encoder_heads.npz`` (the two heads), run by onnxruntime.

Saving writes the whole set into a temporary folder next to the target and swaps it in by rename,
so a failed or killed training leaves the previous set working. Loading reads each file's bytes
once, checks their sha256 against the manifest, and builds the scorer from those same bytes: a file
swapped after the check is never the one unpickled.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import io
import json
import os
import platform
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from karabakh_tagger import __version__
from karabakh_tagger.errors import InputError
from karabakh_tagger.files import WriteError, atomic_write_text, cannot_write, sha256_file
from karabakh_tagger.labels import TASKS
from karabakh_tagger.scorers import Scorer
from karabakh_tagger.typed import build, to_data

if TYPE_CHECKING:
    from karabakh_tagger.config import LoadedConfig
    from karabakh_tagger.data import DataSources
    from karabakh_tagger.train import TrainedFamily

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
CARD = "README.md"
BASELINE_FILES = {"topic": "topic.joblib", "stance": "stance.joblib", "fast": "fast.npz"}
ENCODER_FILES = {"onnx": "encoder.onnx", "tokenizer": "tokenizer.json", "heads": "encoder_heads.npz"}
FINETUNED_FILES = {"onnx": "finetuned.onnx", "tokenizer": "finetuned_tokenizer.json",
                   "heads": "finetuned_heads.npz"}
RETRAIN = "retrain with make train"
Warn = Callable[[str], None]


@dataclass(frozen=True)
class FileInfo:
    """Hash and size of one file of the folder."""

    sha256: str
    bytes: int


@dataclass(frozen=True)
class TaskInfo:
    """One task of one model: its classes (column order of its probabilities) and how it was chosen."""

    classes: tuple[str, ...]
    params: dict[str, Any]
    inner_cv_macro_f1: float | None


@dataclass(frozen=True)
class Headline:
    """The evaluation's headline numbers for one task of one model (written by ``eval``)."""

    loao_macro_f1: float
    loao_accuracy: float
    lobo_macro_f1: float | None
    best_dummy_loao_macro_f1: float
    f_avg: float | None


@dataclass(frozen=True)
class ModelInfo:
    """One model family in the folder."""

    family: str
    description: str
    scorer: Literal["linear", "pipelines", "onnx"]
    files: dict[str, str]
    tasks: dict[str, TaskInfo]
    train_seconds: float
    note: str | None
    details: dict[str, Any]
    evaluation: dict[str, Headline] | None
    sentences_per_second: float | None


@dataclass(frozen=True)
class DataInfo:
    """The labels the models were trained on."""

    labels_file: str
    labels_sha256: str
    authored_dir: str | None
    authored_sha256: str | None
    corpus_units: int
    articles: tuple[str, ...]
    composed_rows: int
    batches: tuple[str, ...]


@dataclass(frozen=True)
class ConfigInfo:
    """The config the models were trained with."""

    file: str
    sha256: str
    overrides: tuple[str, ...]
    values_sha256: str
    values: dict[str, Any]


@dataclass(frozen=True)
class Manifest:
    """Everything needed to trust and reproduce a model folder."""

    format_version: int
    created: str
    package_version: str
    versions: dict[str, str]
    data: DataInfo
    config: ConfigInfo
    labels: dict[str, tuple[str, ...]]
    models: dict[str, ModelInfo]
    recommended: str | None
    evaluated: str | None
    files: dict[str, FileInfo]

    def version_name(self, family: str) -> str:
        """A short name for one trained model: family, creation time and first file hash."""
        first = next(iter(self.models[family].files.values()))
        return f"{family}@{self.created}/{self.files[first].sha256[:12]}"


@dataclass(frozen=True)
class Provenance:
    """Where a training run's inputs came from, and its training texts (for the export check)."""

    data: DataSources
    config: LoadedConfig
    texts: Sequence[str]


def versions() -> dict[str, str]:
    """Versions of Python and of the libraries an artifact depends on."""
    out = {"python": platform.python_version()}
    for package in ("scikit-learn", "numpy", "scipy", "joblib", "datasets", "karabakh-tagger"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


# --- saving ------------------------------------------------------------------------------------

def _dump(path: Path, obj: Any) -> None:
    import joblib

    joblib.dump(obj, path, compress=3)


def _save_baseline(trained: TrainedFamily, folder: Path, texts: Sequence[str]) -> ModelInfo:
    """Write the two pipelines and, where they allow it, the verified numpy export."""
    from karabakh_tagger import fastscore

    files = {}
    for task in TASKS:
        files[task] = BASELINE_FILES[task]
        _dump(folder / files[task], trained.tasks[task].pipeline)
    pipelines = {task: trained.tasks[task].pipeline for task in TASKS}
    scorer: Literal["linear", "pipelines"] = "pipelines"
    note = None
    try:
        arrays = fastscore.export(pipelines)
    except fastscore.ExportError as err:
        note = f"no fast.npz: {err}; tagging unpickles the joblib pipelines"
    else:
        path = folder / BASELINE_FILES["fast"]
        fastscore.save(arrays, path)
        try:
            fastscore.verify(fastscore.LinearScorer.from_bytes(path.read_bytes()), pipelines, list(texts))
        except fastscore.ExportError as err:
            raise InputError(f"export of {path.name} refused: {err}") from None
        files["fast"], scorer = BASELINE_FILES["fast"], "linear"
    tasks = _task_infos(trained)
    return ModelInfo("baseline", "word TF-IDF + logistic regression per task (scikit-learn Pipeline)",
                     scorer, files, tasks, trained.seconds, note, {}, None, None)


def _task_infos(trained: TrainedFamily) -> dict[str, TaskInfo]:
    return {task: TaskInfo(tuple(str(c) for c in t.pipeline.classes_), t.params, t.inner_score)
            for task, t in trained.tasks.items()}


def _save_encoder(trained: TrainedFamily, folder: Path, texts: Sequence[str]) -> ModelInfo:
    """Write the ONNX graph, its tokenizer and the heads; the heads are checked against the
    trained logistic regressions on the training embeddings before anything is kept."""
    import numpy as np

    from karabakh_tagger.encoder import Heads

    extra = trained.extra
    heads = Heads.from_pipelines({task: trained.tasks[task].pipeline for task in TASKS})
    x = extra["embeddings"]
    got = Heads.from_bytes(heads.to_bytes()).predict_proba(x)
    for task in TASKS:
        if not np.allclose(got[task], trained.tasks[task].pipeline.predict_proba(x), atol=1e-6):
            raise InputError(f"export of {ENCODER_FILES['heads']} refused: {task}: the heads differ "
                             "from the trained classifier")
    (folder / ENCODER_FILES["onnx"]).write_bytes(extra["onnx"])
    (folder / ENCODER_FILES["tokenizer"]).write_text(extra["tokenizer_json"], encoding="utf-8")
    (folder / ENCODER_FILES["heads"]).write_bytes(heads.to_bytes())
    details = extra["details"]
    agreement = details.get("int8_label_agreement")
    note = ("dynamic int8 quantisation: predicted labels identical to fp32 on "
            + ", ".join(f"{t} {v:.1%}" for t, v in agreement.items()) + " of held-out rows; "
            + ("kept" if details["quantized"] else f"not kept (below {details['min_agreement']:.1%})")
            if agreement else "fp32 (quantisation off)")
    return ModelInfo("encoder", "all-MiniLM-L6-v2 sentence embeddings (ONNX) + logistic regression per "
                     "task", "onnx", dict(ENCODER_FILES), _task_infos(trained), trained.seconds, note,
                     details, None, None)


def _save_finetuned(trained: TrainedFamily, folder: Path, texts: Sequence[str]) -> ModelInfo:
    """Write the fine-tuned graph, its tokenizer and heads (the heads came out of the same module)."""
    extra = trained.extra
    heads = extra["heads"]
    (folder / FINETUNED_FILES["onnx"]).write_bytes(extra["onnx"])
    (folder / FINETUNED_FILES["tokenizer"]).write_text(extra["tokenizer_json"], encoding="utf-8")
    (folder / FINETUNED_FILES["heads"]).write_bytes(heads.to_bytes())
    tasks = {task: TaskInfo(tuple(heads.classes[task]), {}, None) for task in TASKS}
    return ModelInfo("finetuned", extra["description"], "onnx", dict(FINETUNED_FILES), tasks,
                     trained.seconds, "fp32; hyperparameters fixed in the config (no search)",
                     extra["details"], None, None)


_SAVERS = {"baseline": _save_baseline, "encoder": _save_encoder, "finetuned": _save_finetuned}


def _renameat2_exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    if platform.system() != "Linux":
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    done = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return done == 0


def _swap_in(new: Path, target: Path) -> None:
    """Make ``new`` the folder at ``target``; the old folder (if any) is removed afterwards."""
    if not target.exists():
        os.rename(new, target)
        return
    if _renameat2_exchange(new, target):
        shutil.rmtree(new)  # now the old set
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.rename(target, old)
    os.rename(new, target)
    shutil.rmtree(old)


def _check_target(target: Path) -> None:
    """Refuse to replace a folder that is not a model folder (its files would be lost)."""
    if target.exists() and not target.is_dir():
        raise InputError(f"{target}: exists and is not a folder; choose a model folder")
    if target.is_dir() and any(target.iterdir()) and not (target / MANIFEST).exists():
        raise InputError(f"{target}: not empty and not a model folder (no {MANIFEST}); its files "
                         "would be replaced: choose an empty or new folder")


def _remove_stale_temps(target: Path) -> None:
    """Temporary folders of trainings that were killed (their process is gone)."""
    for stale in target.parent.glob(f".{target.name}.tmp-*"):
        pid = stale.name.rsplit("-", 2)[-2] if stale.name.count("-") >= 2 else ""
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _file_infos(folder: Path, names: Sequence[str]) -> dict[str, FileInfo]:
    return {name: FileInfo(sha256_file(folder / name),
                           (folder / name).stat().st_size) for name in names}


@contextlib.contextmanager
def _new_set(target: Path) -> Iterator[Path]:
    """A temporary folder beside ``target`` that becomes ``target`` by rename when the block ends
    well, and is removed when it does not (a killed process's folder is removed by the next save)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(target)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-{os.getpid()}-"))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        _swap_in(tmp, target)
    except (OSError, WriteError) as err:  # a full disk: the previous set stays, the partial one goes
        shutil.rmtree(tmp, ignore_errors=True)
        raise cannot_write(target, err) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def save(trained: Sequence[TrainedFamily], out_dir: Path, provenance: Provenance) -> Manifest:
    """Write every trained family, the manifest and the model card; swap the set in as a whole."""
    from karabakh_tagger.card import model_card

    _check_target(out_dir)
    with _new_set(out_dir) as tmp:
        models = {t.family: _SAVERS[t.family](t, tmp, provenance.texts) for t in trained}
        names = [name for m in models.values() for name in m.files.values()]
        sources, loaded = provenance.data, provenance.config
        manifest = Manifest(
            format_version=FORMAT_VERSION, created=datetime.now(UTC).isoformat(timespec="seconds"),
            package_version=__version__, versions=versions(),
            data=build(DataInfo, to_data(sources), "the training data"),
            config=ConfigInfo(loaded.file, loaded.file_sha256, loaded.overrides, loaded.values_sha256,
                              loaded.config.to_dict()),
            labels={task: tuple(names_) for task, names_ in TASKS.items()}, models=models,
            recommended=None, evaluated=None, files=_file_infos(tmp, names))
        _write_manifest(tmp, manifest, model_card)
    return manifest


def add_family(models_dir: Path, trained: TrainedFamily) -> Manifest:
    """Add (or replace) one family in an existing model folder, swapped in as a whole like ``save``."""
    from karabakh_tagger.card import model_card

    manifest = read_manifest(models_dir)
    with _new_set(models_dir) as tmp:
        old = manifest.models.get(trained.family)
        keep = [n for n in manifest.files if old is None or n not in old.files.values()]
        for name in keep:
            (tmp / name).write_bytes(read_verified(models_dir, manifest, name))
        info = _SAVERS[trained.family](trained, tmp, ())
        files = {**{n: manifest.files[n] for n in keep}, **_file_infos(tmp, list(info.files.values()))}
        manifest = replace(manifest, models={**manifest.models, trained.family: info}, files=files)
        _write_manifest(tmp, manifest, model_card)
    return manifest


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_manifest(folder: Path, manifest: Manifest, card: Callable[[Manifest], str]) -> None:
    atomic_write_text(folder / MANIFEST, json.dumps(to_data(manifest), indent=2) + "\n")
    atomic_write_text(folder / CARD, card(manifest))


def record_evaluation(models_dir: Path, headlines: dict[str, dict[str, Headline]],
                      speeds: dict[str, float], recommended: str) -> Manifest:
    """Write the evaluation's headline numbers and the recommended family into the manifest."""
    from karabakh_tagger.card import model_card

    manifest = read_manifest(models_dir)
    models = {family: replace(info, evaluation=headlines.get(family, info.evaluation),
                              sentences_per_second=speeds.get(family, info.sentences_per_second))
              for family, info in manifest.models.items()}
    manifest = replace(manifest, models=models, recommended=recommended,
                       evaluated=datetime.now(UTC).isoformat(timespec="seconds"))
    _write_manifest(models_dir, manifest, model_card)
    return manifest


# --- loading -----------------------------------------------------------------------------------

def read_manifest(models_dir: Path) -> Manifest:
    """The typed manifest of a model folder, or an InputError saying how to get a good one."""
    path = models_dir / MANIFEST
    if not path.exists():
        raise InputError(f"{path}: no trained model here; run make train")
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        raise InputError(f"{path}: unreadable manifest; {RETRAIN}") from None
    version = data.get("format_version") if isinstance(data, dict) else None
    if version != FORMAT_VERSION:
        raise InputError(f"{path}: model format {version!r}, this karabakh-tagger reads format "
                         f"{FORMAT_VERSION}; {RETRAIN}")
    try:
        manifest = build(Manifest, data, str(path))
    except InputError as err:
        raise InputError(f"{err}; {RETRAIN}") from None
    for family, info in manifest.models.items():
        for name in info.files.values():
            if name not in manifest.files or Path(name).name != name:
                raise InputError(f"{path}: model {family!r} lists {name!r} without a hash; {RETRAIN}")
    return manifest


def read_verified(models_dir: Path, manifest: Manifest, name: str) -> bytes:
    """The bytes of one file of the folder, after checking them against the manifest."""
    path = models_dir / name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: missing; run make train") from None
    except OSError as err:
        raise InputError(f"{path}: cannot be read ({err.strerror})") from None
    if hashlib.sha256(data).hexdigest() != manifest.files[name].sha256:
        raise InputError(f"{path} does not match {models_dir / MANIFEST}; {RETRAIN}")
    return data


@contextlib.contextmanager
def _unpickle_errors(path: Path) -> Iterator[None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn's version warning: _check_versions says it once
            yield
    except InputError:
        raise
    except Exception as err:  # a verified file that still fails: an incompatible install
        raise InputError(f"{path}: cannot be loaded ({type(err).__name__}: {err}); {RETRAIN}") from None


def load_pipelines(models_dir: Path, manifest: Manifest | None = None) -> dict[str, Any]:
    """The baseline's scikit-learn pipelines, each unpickled from the bytes whose hash was checked."""
    import joblib

    manifest = manifest or read_manifest(models_dir)
    if "baseline" not in manifest.models:
        raise InputError(f"{models_dir}: no baseline model in this folder; {RETRAIN}")
    pipelines = {}
    for task in TASKS:
        name = manifest.models["baseline"].files[task]
        data = read_verified(models_dir, manifest, name)
        with _unpickle_errors(models_dir / name):
            pipelines[task] = joblib.load(io.BytesIO(data))
        if not hasattr(pipelines[task], "predict_proba"):
            raise InputError(f"{models_dir / name}: not a classifier pipeline; {RETRAIN}")
    return pipelines


def _check_versions(manifest: Manifest, warn: Warn) -> None:
    trained = manifest.versions.get("scikit-learn")
    try:
        installed = metadata.version("scikit-learn")
    except metadata.PackageNotFoundError:  # pragma: no cover - sklearn is a dependency
        return
    if trained and trained != installed:
        warn(f"warning: the models were trained with scikit-learn {trained} but {installed} is "
             f"installed; predictions may differ ({RETRAIN})")


def _load_baseline(models_dir: Path, manifest: Manifest, warn: Warn, device: str) -> Scorer:
    from karabakh_tagger.fastscore import LinearScorer
    from karabakh_tagger.scorers import PipelineScorer

    info = manifest.models["baseline"]
    if info.scorer == "linear" and "fast" in info.files:
        name = info.files["fast"]
        data = read_verified(models_dir, manifest, name)
        try:
            return LinearScorer.from_bytes(data)
        except (OSError, ValueError, KeyError) as err:
            raise InputError(f"{models_dir / name}: cannot be loaded ({err}); {RETRAIN}") from None
    _check_versions(manifest, warn)
    return PipelineScorer(load_pipelines(models_dir, manifest))


def _load_onnx(family: str, models_dir: Path, manifest: Manifest, warn: Warn, device: str) -> Scorer:
    from karabakh_tagger.encoder import Embedder, Heads, HeadsScorer

    info = manifest.models[family]
    data = {role: read_verified(models_dir, manifest, name) for role, name in info.files.items()}
    try:
        heads = Heads.from_bytes(data["heads"])
    except (OSError, ValueError, KeyError) as err:
        raise InputError(f"{models_dir / info.files['heads']}: cannot be loaded ({err}); {RETRAIN}") from None
    embedder = Embedder(data["onnx"], data["tokenizer"].decode("utf-8"), int(info.details["max_length"]),
                        int(info.details["batch_size"]), device)
    return HeadsScorer(embedder, heads)


_LOADERS: dict[str, Callable[[Path, Manifest, Warn, str], Scorer]] = {
    "baseline": _load_baseline, "encoder": partial(_load_onnx, "encoder"),
    "finetuned": partial(_load_onnx, "finetuned")}
MODEL_CHOICES = ("auto", *_LOADERS)


def choose(manifest: Manifest, model: str = "auto") -> str:
    """The family ``model`` names: "auto" is the recommended one when trained, else the baseline."""
    if model == "auto":
        model = manifest.recommended if manifest.recommended in manifest.models else "baseline"
    if model not in manifest.models:
        trained = ", ".join(manifest.models) or "none"
        raise InputError(f"no {model} model in this folder (trained: {trained}); run make train")
    return model


class Loaded(NamedTuple):
    """What :func:`load` returns: the manifest, the family it chose and that family's scorer."""

    manifest: Manifest
    model: str
    scorer: Scorer


def load(models_dir: str | Path = "models", model: str = "auto",
         warn: Warn = lambda message: None, device: str = "cpu") -> Loaded:
    """The manifest and the chosen family's scorer, every file verified from the bytes it is built from."""
    models_dir = Path(models_dir)
    manifest = read_manifest(models_dir)
    family = choose(manifest, model)
    loader = _LOADERS.get(family)
    if loader is None:
        raise InputError(f"{models_dir}: model {family!r} needs a newer karabakh-tagger; {RETRAIN}")
    return Loaded(manifest, family, loader(models_dir, manifest, warn, device))


def verify_all(models_dir: Path) -> Manifest:
    """The manifest, after checking every file it lists (for runs that must fail before they start)."""
    manifest = read_manifest(models_dir)
    for name in manifest.files:
        read_verified(models_dir, manifest, name)
    return manifest
