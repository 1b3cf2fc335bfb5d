"""Sorting and Krylov subspace recycling (SKR) for sequences of similar nonsymmetric systems.

:class:`RecyclingGMRES` is GCRO-DR (Parks, de Sturler, Mackey, Johnson and Maiti 2006): restarted
GMRES that carries a ``k``-dimensional subspace ``U`` (harmonic Ritz vectors of the smallest
harmonic Ritz values) from one cycle to the next and from one system to the next; every cycle
first removes the part of the residual in ``C = A U`` and then builds ``m - k`` Arnoldi vectors
orthogonal to ``C``. :func:`similarity_order` is the sorting step of SKR (Wang et al. 2023): a greedy
nearest-neighbour path through the systems' parameters, so that consecutive systems are similar
and the recycled subspace stays useful. Right preconditioning: the solver works on ``A M^-1``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from oplearn.errors import InvalidInputError, SolverError

Preconditioner = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class KrylovResult:
    """A solution, the operator applications it took, the relative residual it reached and how
    often the recycled subspace broke down and was dropped."""

    x: np.ndarray
    matvecs: int
    residual: float
    breakdowns: int = 0


def similarity_order(features: np.ndarray) -> np.ndarray:
    """Greedy nearest-neighbour order of ``features`` ``(N, F)`` (Euclidean), starting at row 0."""
    features = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    remaining = list(range(1, len(features)))
    order = [0]
    while remaining:
        distances = np.linalg.norm(features[remaining] - features[order[-1]], axis=1)
        order.append(remaining.pop(int(np.argmin(distances))))
    return np.array(order)


def _harmonic_ritz(g: np.ndarray, metric: np.ndarray, k: int) -> np.ndarray | None:
    """Real basis ``(cols, <= k)`` of the harmonic Ritz vectors of the ``k`` smallest values of
    ``G^T G p = theta G^T M p``; ``None`` when the eigenproblem gives no finite vectors."""
    values, vectors = sla.eig(g.T @ g, g.T @ metric)
    values = np.where(np.isfinite(values), values, np.inf)
    chosen = [i for i in np.argsort(np.abs(values))[:k]
              if np.isfinite(values[i]) and np.isfinite(vectors[:, i]).all()]
    if not chosen:
        return None
    basis = []
    for index in chosen:
        basis.append(vectors[:, index].real)
        if abs(values[index].imag) > 0:
            basis.append(vectors[:, index].imag)
    q, _ = np.linalg.qr(np.stack(basis, axis=1))
    return q[:, :k]


def _stable_qr(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``a[:, keep] = q r`` with the columns kept whose ``|r_ii|`` is not negligible (nearly
    dependent recycled vectors would make ``r^-1`` blow up). Returns ``(q, r^-1, keep)``."""
    q, r = np.linalg.qr(a)
    diagonal = np.abs(np.diag(r))
    keep = diagonal > 1e-10 * diagonal.max()
    if not keep.all():
        q, r = np.linalg.qr(a[:, keep])
    return q, sla.solve_triangular(r, np.eye(r.shape[0])), keep


class RecyclingGMRES:
    """GCRO-DR(m, k): GMRES restarted every ``restart`` vectors, recycling ``recycle`` of them.

    Call :meth:`solve` on each system of a sequence in turn; the recycled subspace carries over.
    ``recycle=0`` makes it plain restarted GMRES(m) (the baseline with identical arithmetic).
    """

    def __init__(self, restart: int = 40, recycle: int = 10, tol: float = 1e-8, max_matvecs: int = 5000):
        if not 0 <= recycle < restart:
            raise InvalidInputError(f"need 0 <= recycle < restart, got recycle={recycle}, restart={restart}")
        self.restart, self.recycle, self.tol, self.max_matvecs = restart, recycle, tol, max_matvecs
        self.u: np.ndarray | None = None

    @staticmethod
    def _accept(r: np.ndarray, norm_b: float, previous: float) -> bool:
        """A cycle minimises the residual, so a non-finite or clearly grown one is a breakdown."""
        norm = float(np.linalg.norm(r))
        return bool(np.isfinite(norm) and norm <= 10.0 * max(previous, 1e-300) + 1e-12 * norm_b)

    def _arnoldi(self, op, r: np.ndarray, steps: int, c: np.ndarray | None, converged):
        """Up to ``steps`` Arnoldi vectors of ``(I - C C^T) op`` from ``r``; stops early once
        ``converged(h, b)`` (the cycle's least-squares residual is below the tolerance)."""
        n = r.shape[0]
        v = np.zeros((n, steps + 1))
        h = np.zeros((steps + 1, steps))
        b = np.zeros((0 if c is None else c.shape[1], steps))
        v[:, 0] = r / np.linalg.norm(r)
        for j in range(steps):
            w = op(v[:, j])
            if c is not None:
                b[:, j] = c.T @ w
                w -= c @ b[:, j]
            for _ in range(2):  # classical Gram-Schmidt, twice (numerically as good as modified)
                coeff = v[:, : j + 1].T @ w
                w -= v[:, : j + 1] @ coeff
                h[: j + 1, j] += coeff
            h[j + 1, j] = np.linalg.norm(w)
            if h[j + 1, j] <= 1e-14 * np.abs(h[: j + 1, j]).max():
                return v[:, : j + 2], h[: j + 2, : j + 1], b[:, : j + 1]
            v[:, j + 1] = w / h[j + 1, j]
            if converged(h[: j + 2, : j + 1], b[:, : j + 1]):
                return v[:, : j + 2], h[: j + 2, : j + 1], b[:, : j + 1]
        return v, h, b

    def solve(self, matrix: sp.spmatrix, rhs: np.ndarray, preconditioner: Preconditioner | None = None
              ) -> KrylovResult:
        """Solve ``matrix @ x = rhs`` to relative residual ``tol``; keeps the recycled subspace.

        Raises:
            SolverError: ``max_matvecs`` operator applications did not reach ``tol``.
        """
        apply_m = preconditioner or (lambda v: v)

        def op(v: np.ndarray) -> np.ndarray:
            return matrix @ apply_m(v)

        norm_b = np.linalg.norm(rhs) or 1.0
        y = np.zeros_like(rhs)
        r = rhs.copy()
        matvecs = 0
        c = u = None
        breakdowns = 0
        k, m = self.recycle, self.restart
        target_norm = self.tol * norm_b * 0.5  # a cycle stops when its least-squares residual is below
        for _attempt in range(4):  # restart from the true residual if the recurrence drifted
            if self.u is not None and k > 0:
                au = np.stack([op(col) for col in self.u.T], axis=1)
                matvecs += self.u.shape[1]
                q, r_inv, keep = _stable_qr(au)
                c, u = q, self.u[:, keep] @ r_inv
                y += u @ (c.T @ r)
                r -= c @ (c.T @ r)
            y_last, r_last = y.copy(), r.copy()
            while np.linalg.norm(r) / norm_b > self.tol:
                if matvecs >= self.max_matvecs:
                    break
                if c is None:  # plain GMRES cycle (first system, or no recycling)
                    beta = np.linalg.norm(r)

                    def plain_done(h, _b, beta=beta):
                        e1 = np.zeros(h.shape[0])
                        e1[0] = beta
                        return np.linalg.norm(h @ np.linalg.lstsq(h, e1, rcond=None)[0] - e1) <= target_norm

                    v, h, _ = self._arnoldi(op, r, m, None, plain_done)
                    matvecs += h.shape[1]
                    target = np.zeros(h.shape[0])
                    target[0] = np.linalg.norm(r)
                    z = np.linalg.lstsq(h, target, rcond=None)[0]
                    y += v[:, : h.shape[1]] @ z
                    r -= v @ (h @ z)
                    if not self._accept(r, norm_b, beta):  # plain GMRES cannot recover:
                        y, r = y_last, r_last              # fail below with SolverError
                        break
                    y_last, r_last = y.copy(), r.copy()
                    if k > 0 and h.shape[1] > k:
                        p = _harmonic_ritz(h, np.eye(h.shape[0], h.shape[1]), k)
                        if p is not None:
                            q, r_inv, keep = _stable_qr(h @ p)
                            c, u = v @ q, v[:, : h.shape[1]] @ p[:, keep] @ r_inv
                    continue
                steps = m - c.shape[1]
                scale = 1.0 / np.linalg.norm(u, axis=0)
                kk = c.shape[1]
                head = c.T @ r
                beta = np.linalg.norm(r)

                def recycled_done(h, b, kk=kk, scale=scale, head=head, beta=beta):
                    g = np.zeros((kk + h.shape[0], kk + h.shape[1]))
                    g[:kk, :kk] = np.diag(scale)
                    g[:kk, kk:] = b
                    g[kk:, kk:] = h
                    target = np.zeros(g.shape[0])
                    target[:kk] = head
                    target[kk] = beta
                    return np.linalg.norm(g @ np.linalg.lstsq(g, target, rcond=None)[0] - target) <= target_norm

                v, h, b = self._arnoldi(op, r, steps, c, recycled_done)
                matvecs += h.shape[1]
                s_ = h.shape[1]
                w_hat = np.concatenate([u * scale, v[:, :s_]], axis=1)
                w = np.concatenate([c, v], axis=1)
                g = np.zeros((c.shape[1] + s_ + 1, c.shape[1] + s_))
                g[: c.shape[1], : c.shape[1]] = np.diag(scale)
                g[: c.shape[1], c.shape[1]:] = b
                g[c.shape[1]:, c.shape[1]:] = h
                target = w.T @ r
                z = np.linalg.lstsq(g, target, rcond=None)[0]
                y += w_hat @ z
                r -= w @ (g @ z)
                if not self._accept(r, norm_b, beta):
                    # Breakdown of the recycled recurrence: forget the subspace, go on with plain
                    # GMRES cycles from the last good iterate (a new subspace grows from them).
                    y, r, c, u, self.u = y_last, r_last, None, None, None
                    breakdowns += 1
                    continue
                y_last, r_last = y.copy(), r.copy()
                p = _harmonic_ritz(g, w.T @ w_hat, k)
                if p is None:
                    c = u = None
                    continue
                q, r_inv, keep = _stable_qr(g @ p)
                c, u = w @ q, w_hat @ p[:, keep] @ r_inv
            if k > 0 and c is not None:
                self.u = u
            r = rhs - op(y)
            matvecs += 1
            if np.linalg.norm(r) / norm_b <= self.tol or matvecs >= self.max_matvecs:
                break
            c = None
        x = apply_m(y)
        residual = float(np.linalg.norm(rhs - matrix @ x) / norm_b)
        if not np.isfinite(residual) or residual > self.tol * 1.01:
            raise SolverError(f"GCRO-DR reached relative residual {residual:.2e} > {self.tol:.1e} "
                              f"after {matvecs} operator applications")
        return KrylovResult(x, matvecs, residual, breakdowns)
