"""The traffic between the processes of a distributed mesh, over ``torch.distributed``.

Two kinds: the runtime's collectives that cross processes (:meth:`Transport.exchange`, an
``all_gather`` of each process's chip tensors, called back from the C++ executor), and the
activations pipeline stages hand to one another (:meth:`Transport.send` / :meth:`Transport.recv`).

Reductions are not left to the backend: gloo's ``all_reduce`` adds in its own order (and in
fp32 whatever the tensor's format), which would make the bits depend on how chips are spread
over processes. The exchange gathers the partial tensors as raw bytes, and the runtime adds
them itself in ring order, chip 0 first, rounding to the tensor's format after each addition,
exactly as the one-process emulation does.

Failures: every operation runs under the group's timeout (``init_mesh(timeout=...)``); a
heartbeat thread publishes each rank's progress in the rendezvous store, so that when an
operation fails the message names the rank that stopped (or fell behind) and the op.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist

from tt_torch.errors import TTRuntimeError

_LOG = logging.getLogger(__name__)

_PREFIX = "tt_torch/heartbeat/"


class DistributedError(TTRuntimeError):
    """A collective or a pipeline transfer between ranks failed: a rank died, hung or diverged."""


@dataclass
class CommStats:
    """What this process spent on traffic with the others since the last reset."""

    calls: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    seconds: float = 0.0  # wall time inside torch.distributed calls, waiting for slower ranks included

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


class Transport:
    """This rank's end of the mesh's traffic: one process group, its timeout, a heartbeat."""

    def __init__(
        self,
        group: dist.ProcessGroup,
        rank: int,
        world_size: int,
        timeout_s: float,
        heartbeat_s: float = 0.5,
        device: torch.device | None = None,
    ) -> None:
        self.group = group
        self.rank = rank
        self.world_size = world_size
        self.timeout_s = timeout_s
        self.heartbeat_s = heartbeat_s
        self.device = device  # where the backend wants tensors (NCCL: this rank's GPU); None: CPU
        self.stats = CommStats()
        self._seq = 0
        self._what = "start-up"
        self._beats = 0
        self._failed: str | None = None
        self._stop = threading.Event()
        self._store = _default_store()
        self._thread: threading.Thread | None = None
        if self._store is not None:
            self._beat()
            self._thread = threading.Thread(target=self._heartbeat, name=f"tt_torch-heartbeat-{rank}", daemon=True)
            self._thread.start()

    # -- the runtime's collectives ------------------------------------------------------------

    def exchange(self, what: str, local: list[torch.Tensor]) -> list[torch.Tensor]:
        """Every chip's tensor, in chip order, from this process's chips' tensors (same shape and
        dtype on every chip, as an SPMD collective's inputs are). Bits travel unchanged."""
        label = self._enter(f"{what} (collective #{self._seq + 1})")
        mine = torch.stack([t.contiguous() for t in local])
        raw = mine.reshape(-1).view(torch.uint8)
        parts = [torch.empty_like(raw, device=self.device) for _ in range(self.world_size)]
        start = time.perf_counter()
        try:
            dist.all_gather(parts, raw.to(self.device) if self.device else raw, group=self.group)
        except Exception as e:  # noqa: BLE001 - any backend failure becomes one diagnosed error
            raise self._error(label, e) from None
        self._account(start, raw.numel(), raw.numel() * (self.world_size - 1))
        chips: list[torch.Tensor] = []
        for part in parts:
            chips.extend(part.cpu().view(mine.dtype).view(mine.shape).unbind(0))
        return chips

    # -- pipeline activations -----------------------------------------------------------------

    def send(self, what: str, tensor: torch.Tensor, dst: int) -> None:
        label = self._enter(f"send of {what} to rank {dst}")
        value = tensor.contiguous()
        start = time.perf_counter()
        try:
            dist.send(value.to(self.device) if self.device else value, dst=dst, group=self.group)
        except Exception as e:  # noqa: BLE001
            raise self._error(label, e) from None
        self._account(start, value.numel() * value.element_size(), 0)

    def recv(self, what: str, shape: torch.Size, dtype: torch.dtype, src: int) -> torch.Tensor:
        label = self._enter(f"recv of {what} from rank {src}")
        value = torch.empty(shape, dtype=dtype, device=self.device)
        start = time.perf_counter()
        try:
            dist.recv(value, src=src, group=self.group)
        except Exception as e:  # noqa: BLE001
            raise self._error(label, e) from None
        self._account(start, 0, value.numel() * value.element_size())
        return value.cpu()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * self.heartbeat_s)

    # -- bookkeeping and diagnosis ------------------------------------------------------------

    def _enter(self, label: str) -> str:
        if self._failed is not None:
            raise DistributedError(
                f"rank {self.rank}: {label} refused: an earlier transfer failed ({self._failed}); the process "
                "group is unusable, start all ranks again"
            )
        self._seq += 1
        self._what = label
        return label

    def _account(self, start: float, sent: int, received: int) -> None:
        self.stats.calls += 1
        self.stats.bytes_sent += sent
        self.stats.bytes_received += received
        self.stats.seconds += time.perf_counter() - start

    def _beat(self) -> None:
        self._beats += 1
        self._store.set(f"{_PREFIX}{self.rank}", f"{self._beats} {self._seq} {self._what}")

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                self._beat()
            except Exception:  # noqa: BLE001 - the store is gone (its host died); the ops will say so
                return

    def _peers(self) -> dict[int, tuple[int, int, str] | None]:
        """Each other rank's (beats, collective number, op) as the store has it; None: unreadable."""
        seen: dict[int, tuple[int, int, str] | None] = {}
        for r in range(self.world_size):
            if r == self.rank:
                continue
            key = f"{_PREFIX}{r}"
            try:
                if not self._store.check([key]):
                    seen[r] = None
                    continue
                beats, seq, what = self._store.get(key).decode().split(" ", 2)
                seen[r] = (int(beats), int(seq), what)
            except Exception:  # noqa: BLE001
                seen[r] = None
        return seen

    def _diagnose(self) -> str:
        """Which ranks stopped: their heartbeat does not move over a few periods."""
        if self._store is None:
            return "(no rendezvous store to tell which rank stopped)"
        try:
            before = self._peers()
            time.sleep(3 * self.heartbeat_s)
            after = self._peers()
        except Exception:  # noqa: BLE001
            return "rank 0 hosts the rendezvous store and is unreachable: rank 0 died or was killed"
        if all(v is None for v in after.values()):
            return "the rendezvous store (hosted by rank 0) is unreachable: rank 0 died or was killed"
        dead, behind = [], []
        for r, now in after.items():
            then = before.get(r)
            if now is None or (then is not None and then[0] == now[0]):
                last = f", last seen at {now[2]}" if now else ""
                dead.append(
                    f"rank {r} stopped (no heartbeat for {3 * self.heartbeat_s:.1f} s{last}): it died, was killed or is frozen"
                )
            elif now[1] < self._seq:
                behind.append(f"rank {r} is alive but still at {now[2]}: it hangs or runs another program")
        if not dead and not behind:
            return "every other rank is alive and at the same step"
        return "; ".join(dead + behind)

    def _error(self, label: str, cause: Exception) -> DistributedError:
        reason = self._diagnose()
        self._failed = label
        first_line = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        message = (
            f"tt_torch.distributed: {label} failed on rank {self.rank} of {self.world_size} "
            f"(timeout {self.timeout_s:g} s): {reason}. torch.distributed said: {first_line}. "
            "Every rank stops; look at the named rank's log, then start all ranks again."
        )
        _LOG.error("%s", message)
        return DistributedError(message)


def _default_store() -> dist.Store | None:
    """The rendezvous store of the default process group (torchrun's, or init_process_group's)."""
    try:
        return dist.distributed_c10d._get_default_store()
    except Exception:  # noqa: BLE001 - a private helper; without it the messages only lose the rank
        return None
