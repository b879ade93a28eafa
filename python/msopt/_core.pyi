# Typed stub for msopt's native module.  tests/test_package.py checks it names exactly
# what the module defines.
import numpy as np
import numpy.typing as npt

MAX_STATE_SLOTS: int

def get_num_threads() -> int: ...
def set_num_threads(n: int) -> None: ...
def isa() -> str: ...
def available_isas() -> list[str]: ...
def set_isa(name: str) -> None: ...
def optimizer_step(
    algo: int,
    params: list[npt.NDArray[np.floating]],
    grads: list[object],
    states: list[npt.NDArray[np.floating] | None],
    steps: npt.NDArray[np.int64],
    hypers: list[tuple[float | bool, ...]],
    group_sizes: list[int],
    max_norm: float,
    check_finite: bool,
) -> tuple[bool, float, float]: ...
def stream7(
    p: npt.NDArray[np.float32],
    g: npt.NDArray[np.float32],
    m: npt.NDArray[np.float32],
    v: npt.NDArray[np.float32],
) -> None: ...
