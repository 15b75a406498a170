"""Data-parallel runs under torchrun or `accelerate launch`: who this process is, sharding, gathering, main-only work.

Light at import (no torch): the launcher, rank and world size come from the environment the launchers set
(WORLD_SIZE, RANK, LOCAL_RANK; `accelerate launch` also sets ACCELERATE_MIXED_PRECISION). Without a launcher
every helper here is a plain call (world size 1, nothing to gather). With one, the process group is started
on first use with a timeout, and every collective helper makes the ranks agree on success: an error on one
rank is raised on all of them, naming the rank, so no rank waits for a partner that gave up.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar

from advisor.errors import InputError, first_line

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
TIMEOUT_ENV = "ADVISOR_DIST_TIMEOUT"
DEFAULT_TIMEOUT = 1800.0  # seconds a collective may wait: the main process alone may build an index meanwhile
KILL_ENV = "ADVISOR_TEST_KILL_RANK_AT_STEP"  # "rank:step": that rank kills itself after that training step (tests)


@dataclass(frozen=True)
class World:
    """This process's place in a launched run; size 1 and launcher None without a launcher."""

    launcher: str | None
    rank: int
    local_rank: int
    size: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def _int_env(env: dict[str, str], name: str, default: int) -> int:
    try:
        return int(env.get(name, default))
    except ValueError:
        raise InputError(f"environment variable {name}={env[name]!r} is not a whole number") from None


def world(env: dict[str, str] | None = None) -> World:
    """Launcher ("torchrun", "accelerate" or None), rank, local rank and world size, from the environment."""
    env = dict(os.environ if env is None else env)
    if "ACCELERATE_MIXED_PRECISION" in env:
        launcher: str | None = "accelerate"
    elif "TORCHELASTIC_RUN_ID" in env or "WORLD_SIZE" in env:
        launcher = "torchrun"
    else:
        launcher = None
    size = _int_env(env, "WORLD_SIZE", 1)
    rank = _int_env(env, "RANK", 0)
    if size < 1 or not 0 <= rank < size:
        raise InputError(f"the launcher set RANK={rank} and WORLD_SIZE={size}; expected 0 <= RANK < WORLD_SIZE")
    return World(launcher, rank, _int_env(env, "LOCAL_RANK", rank), size)


def is_main() -> bool:
    """True in the process that logs, shows progress and writes files (always true without a launcher)."""
    return world().is_main


def timeout_seconds() -> float:
    """How long a collective waits for the other ranks (ADVISOR_DIST_TIMEOUT, default 30 min)."""
    try:
        return float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT))
    except ValueError:
        raise InputError(f"{TIMEOUT_ENV} must be a number of seconds, got {os.environ[TIMEOUT_ENV]!r}") from None


def ensure_group() -> None:
    """Start the process group once (gloo on CPU; NCCL for CUDA tensors beside gloo for Python objects)."""
    w = world()
    if not w.distributed:
        return
    import datetime

    import torch
    import torch.distributed as td

    if td.is_initialized():
        return
    backend = "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(w.local_rank)
        backend = "cpu:gloo,cuda:nccl"
    td.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_seconds()))


def shutdown() -> None:
    """Leave the process group cleanly at the end of a launched command."""
    if not world().distributed or "torch" not in sys.modules:
        return
    import torch.distributed as td

    if td.is_available() and td.is_initialized():
        td.destroy_process_group()


# ---------------------------------------------------------------------------------------------- collectives


class RankFailed(RuntimeError):
    """Another rank (or this one) failed inside a collective step; the message names the rank and its error."""


def _outcome(fn: Callable[..., R], *args: Any, **kwargs: Any) -> tuple:
    try:
        return ("ok", fn(*args, **kwargs))
    except (KeyboardInterrupt, SystemExit):
        raise
    except InputError as exc:
        return ("input", str(exc))
    except Exception as exc:  # sent to every rank, raised there with the rank named
        return ("error", f"{type(exc).__name__}: {first_line(exc) if str(exc).strip() else ''}")


def _raise_failures(outcomes: Sequence[tuple | None]) -> None:
    for rank, outcome in enumerate(outcomes):
        if outcome is None or outcome[0] == "ok":
            continue
        if outcome[0] == "input":  # the same bad input on every rank: one clear message, exit 2
            raise InputError(outcome[1])
        raise RankFailed(f"rank {rank} failed: {outcome[1]}")


def all_gather(value: Any) -> list[Any]:
    """Every rank's `value`, indexed by rank (just [value] without a launcher)."""
    if not world().distributed:
        return [value]
    import torch.distributed as td

    ensure_group()
    out: list[Any] = [None] * world().size
    td.all_gather_object(out, value)
    return out


def from_main(value: T) -> T:
    """The main process's `value` on every rank."""
    if not world().distributed:
        return value
    import torch.distributed as td

    ensure_group()
    box: list[Any] = [value if is_main() else None]
    td.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    """Wait until every rank gets here (bounded by the process group's timeout)."""
    if world().distributed:
        import torch.distributed as td

        ensure_group()
        td.barrier()


def on_main(fn: Callable[..., R], *args: Any, elsewhere: Callable[[], Any] | None = None, **kwargs: Any) -> R:
    """Run `fn` on the main process only (writes, index builds); every rank gets its result or its error.

    The other ranks run `elsewhere` (e.g. removing a scratch folder) and wait for the main process.
    """
    w = world()
    if not w.distributed:
        return fn(*args, **kwargs)
    outcome = _outcome(fn, *args, **kwargs) if w.is_main else None
    if not w.is_main and elsewhere is not None:
        elsewhere()
    settled = from_main(outcome)
    _raise_failures([settled])
    assert settled is not None  # the main process always has an outcome
    return settled[1]


def agree(value: Any) -> None:
    """Raise on every rank if any rank failed: `value` is this rank's outcome from `_outcome`."""
    _raise_failures(all_gather(value))


def shard(items: Sequence[T], w: World | None = None) -> list[T]:
    """This rank's share of `items`: every size-th item from its rank (balanced, order kept)."""
    w = w or world()
    return list(items[w.rank :: w.size])


def unshard(parts: Sequence[Sequence[T]], total: int) -> list[T]:
    """The items in their original order from every rank's `shard` (the inverse of `shard`)."""
    out: list[Any] = [None] * total
    for rank, part in enumerate(parts):
        out[rank :: len(parts)] = list(part)
    return out


def map_sharded(fn: Callable[[list[T]], list[R]], items: Sequence[T]) -> list[R]:
    """`fn(items)` computed data-parallel: each rank maps its shard, the results come back in the original order.

    Every rank gets the full list. An error on any rank is raised on all of them (naming the rank).
    """
    items = list(items)
    w = world()
    if not w.distributed:
        return fn(items)
    mine = shard(items, w)
    outcome = _outcome(fn, mine) if mine else ("ok", [])
    outcomes = all_gather(outcome)
    _raise_failures(outcomes)
    return unshard([o[1] for o in outcomes], len(items))


def all_sum(values: Sequence[float]) -> list[float]:
    """Element-wise sum of `values` over the ranks (a float64 all-reduce; the values themselves alone)."""
    if not world().distributed:
        return list(values)
    import torch
    import torch.distributed as td

    ensure_group()
    tensor = torch.tensor(list(values), dtype=torch.float64)
    td.all_reduce(tensor)
    return tensor.tolist()


class RankAborted(BaseException):
    """A rank failed inside a collective loop (training): the whole launched run stops, naming the rank.

    A BaseException so that code which carries on after one approach fails (validate) does not swallow it:
    the partners of this rank are blocked in a collective it will never join.
    """


def fail_fast(where: str, exc: BaseException) -> None:
    """In a launched run, turn an error inside a collective loop into RankAborted (naming rank and error).

    Cleanup handlers still run on the way out; the launcher then stops the other ranks (torchrun tears the
    group down when a worker exits nonzero) instead of leaving them to time out. Without a launcher: no-op.
    """
    w = world()
    if not w.distributed:
        return
    message = first_line(exc) if str(exc).strip() else ""
    raise RankAborted(f"rank {w.rank}: {where} failed: {type(exc).__name__}: {message}") from exc


def maybe_kill(step: int) -> None:
    """Fault injection for the tests: ADVISOR_TEST_KILL_RANK_AT_STEP="rank:step" kills that rank after that step."""
    spec = os.environ.get(KILL_ENV)
    if not spec:
        return
    rank, _, at = spec.partition(":")
    if int(rank) == world().rank and int(at) == step:
        os.kill(os.getpid(), signal.SIGKILL)


# ---------------------------------------------------------------------------------------------- checks


def per_process_batch(global_batch: int, accumulation: int, w: World | None = None) -> int:
    """Examples each rank takes per forward pass so that per-process × processes × accumulation = global batch."""
    w = w or world()
    parts = w.size * accumulation
    if global_batch % parts:
        raise InputError(
            f"the training batch of {global_batch} cannot be split over {w.size} processes × {accumulation} "
            f"accumulation steps: choose a batch size that is a multiple of {parts}, or launch a number of "
            f"processes that divides {global_batch}"
        )
    return global_batch // parts


def check_sizes(train_pairs: int | None, questions: int | None, w: World | None = None) -> None:
    """More processes than training pairs or held-out questions to answer leaves ranks with nothing: refuse."""
    w = w or world()
    if not w.distributed:
        return
    if train_pairs is not None and train_pairs < w.size:
        raise InputError(f"{w.size} processes but only {train_pairs} training pairs: every process needs at least "
                         "one; launch fewer processes (--nproc_per_node) or add pairs")
    if questions is not None and questions < w.size:
        raise InputError(f"{w.size} processes but only {questions} held-out questions to answer: every process needs "
                         "at least one; launch fewer processes, or raise --eval-limit or --test-fraction")


def check_run(plans: Sequence[Any], train_pairs: int, questions: int) -> None:
    """Before any model loads: the launched world fits the data, and it divides every arm's training batch.

    `plans` are the arms' `plan.ArmPlan`s."""
    w = world()
    if not w.distributed:
        return
    reads_pairs = any(not p.arm.retrieves or p.arm.trains for p in plans)  # all but retrieval alone use the pairs
    check_sizes(train_pairs if reads_pairs else None, questions, w)
    for plan in plans:
        if plan.training is not None:
            per_process_batch(plan.training.batch_size, plan.training.accumulation, w)
    for plan in plans:
        store = plan.retrieval.store if plan.retrieval is not None else None
        if store is not None and store.kind == "qdrant" and not store.url:
            raise InputError(f"under a launcher every process reads the index, and an embedded Qdrant storage "
                             f"serves one process: give --qdrant-url of a Qdrant server ({w.size} processes)")


# ---------------------------------------------------------------------------------------------- building


def build(backend: Any, documents: list, train: list, out: Any, progress: bool = True) -> tuple[Any, dict[str, Any]]:
    """Build a backend under the launcher: training backends build on every rank (data-parallel, the main
    process writes); the others build on the main process and the other ranks load what it wrote."""
    if not world().distributed or getattr(backend, "builds_on_every_rank", False):
        return backend, backend.build(documents, train, out, progress and is_main()) or {}
    facts = on_main(backend.build, documents, train, out, progress) or {}
    if not is_main():
        backend = type(backend).load(out, backend.settings)
    return backend, facts


# ---------------------------------------------------------------------------------------------- the command line


class RankPrefixed:
    """A text stream that starts every line with "[rank N] ", so a failing rank says which it is."""

    def __init__(self, stream: TextIO, rank: int):
        self.stream, self.prefix, self.at_line_start = stream, f"[rank {rank}] ", True

    def write(self, text: str | bytes) -> int:
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode(getattr(self.stream, "encoding", None) or "utf-8", "replace")
        out = []
        for piece in text.splitlines(keepends=True):
            if self.at_line_start:
                out.append(self.prefix)
            out.append(piece)
            self.at_line_start = piece.endswith("\n")
        self.stream.write("".join(out))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def _stopped_by_launcher(signum: int, frame: Any) -> None:
    """torchrun sends SIGTERM to every rank when one fails: leave through the cleanup handlers, naming why."""
    raise RankAborted(f"rank {world().rank}: stopped by the launcher because another rank failed (see its error)")


def run_launched(main: Callable[[], Any]) -> None:
    """Run the CLI `main` as this launched process: quiet on every rank but the main one, and the group closed."""
    w = world()
    if not w.distributed:
        main()
        return
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not w.is_main:
        os.environ["TQDM_DISABLE"] = "1"
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - results are printed once, by the main process
        sys.stderr = RankPrefixed(sys.stderr, w.rank)
        logging.getLogger().setLevel(logging.ERROR)
        warnings.simplefilter("ignore")
    signal.signal(signal.SIGTERM, _stopped_by_launcher)
    finished = False
    try:
        main()
        finished = True
    except SystemExit as exc:  # click ends every command this way; 0 (or None) is success
        finished = exc.code in (0, None)
        raise
    except RankAborted as exc:
        stream = sys.__stderr__ or sys.stderr
        stream.write(f"error: {exc}\n")
        stream.flush()
        raise SystemExit(1) from None
    finally:
        try:
            if finished:  # nobody leaves while a partner still talks to the group
                barrier()
            shutdown()
        except Exception:  # the group is already broken: the command's own error says why
            pass
