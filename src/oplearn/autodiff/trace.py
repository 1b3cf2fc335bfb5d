"""Run a function or ``nn.Module`` on jets: module by module for ``nn.Sequential``, through a
``torch.fx`` graph for anything else.

A function written for points ``(B, *F)`` runs on jets whose coefficients are ``(B, V, *F)``:
operations on feature dimensions are shifted past the direction axis, anything that touches
the batch axis or has no Taylor rule raises :class:`Unsupported` (the caller then falls back to
nested ``torch.func.jvp``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import fx, nn

from oplearn.autodiff import series as S
from oplearn.autodiff.series import Jet, Series


class Unsupported(Exception):
    """The function uses an operation that has no Taylor rule here."""


class Sine(nn.Module):
    """``sin(x)``, the activation of sinusoidal PINNs, as a module."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)


def plain(module: nn.Module, kind: type) -> bool:
    """``module`` is exactly ``kind`` (not a subclass that may override ``forward``) and has no
    hooks, so its rule applies."""
    return type(module) is kind and not (module._forward_hooks or module._forward_pre_hooks)


def activation_rule(module: nn.Module) -> S.DerivativeRule | None:
    """The derivative rule of an activation module, or None if it has none."""
    if module._forward_hooks or module._forward_pre_hooks:
        return None
    if type(module) is nn.Softplus:
        return None if module.threshold < 20 else S.softplus_rule(module.beta)
    if type(module) is nn.GELU:
        return S.gelu_rule if module.approximate == "none" else None
    return {nn.Tanh: S.tanh_rule, nn.Sigmoid: S.sigmoid_rule, nn.SiLU: S.silu_rule,
            Sine: S.sin_rule, nn.Identity: S.identity_rule}.get(type(module))


_FUNCTION_RULES: dict[object, S.DerivativeRule] = {
    torch.tanh: S.tanh_rule, torch.sigmoid: S.sigmoid_rule, F.sigmoid: S.sigmoid_rule,
    torch.sin: S.sin_rule, torch.cos: S.cos_rule, torch.exp: S.exp_rule, torch.log: S.log_rule,
    torch.sqrt: S.power_rule(0.5), torch.square: S.power_rule(2), torch.rsqrt: S.power_rule(-0.5),
    torch.reciprocal: S.power_rule(-1), F.silu: S.silu_rule, torch.nn.functional.tanh: S.tanh_rule,
}
_METHOD_RULES: dict[str, S.DerivativeRule] = {
    "tanh": S.tanh_rule, "sigmoid": S.sigmoid_rule, "sin": S.sin_rule, "cos": S.cos_rule,
    "exp": S.exp_rule, "log": S.log_rule, "sqrt": S.power_rule(0.5), "square": S.power_rule(2),
    "rsqrt": S.power_rule(-0.5), "reciprocal": S.power_rule(-1),
}


def run(f: Callable, x: Jet, series: Series) -> Jet:
    """Push the jet ``x`` through ``f``; raises :class:`Unsupported` when there is no rule.

    A module that knows its own Taylor expansion (a method ``taylor(x: Jet, series: Series) ->
    Jet``, e.g. the hard-constraint ansatz of :mod:`oplearn.pinn.network`) is run through it."""
    if isinstance(f, nn.Module) and callable(getattr(f, "taylor", None)) and not (
            f._forward_hooks or f._forward_pre_hooks):
        return f.taylor(x, series)
    if plain(f, nn.Sequential):
        for module in f:
            x = run(module, x, series)
            if not isinstance(x, Jet):
                raise Unsupported(f"{type(module).__name__} did not return a tensor")
        return x
    if plain(f, nn.Linear):
        return series.linear(x, f.weight, f.bias)
    if isinstance(f, nn.Module) and (rule := activation_rule(f)) is not None:
        return series.elementwise(x, rule)
    tracer = _Tracer()
    try:
        graph = tracer.trace(f)
    except Exception as exc:  # noqa: BLE001  (fx raises many kinds on untraceable code)
        raise Unsupported(f"cannot trace {f!r}: {exc}") from exc
    out = _Interpreter(tracer.root, tracer.constants, graph, series).run(x)
    _check_against_eager(f, x, out)
    return out


def _check_against_eager(f: Callable, x: Jet, out: Jet) -> None:
    """A traced graph can differ from the code it came from (``torch.fx`` records ``h += 1`` as
    ``h + 1``, so other names of ``h`` keep the old value): compare the traced value with one
    eager call and refuse the graph if they differ."""
    if torch._C._functorch.is_functorch_wrapped_tensor(x.value):
        return  # inside vmap/grad no value can be read; callers check once outside (see pinn)
    with torch.no_grad():
        eager = f(x.value[:, 0])
        traced = out.value.detach()[:, 0]
    if not isinstance(eager, torch.Tensor) or eager.shape != traced.shape:
        raise Unsupported("the traced graph returns another shape than the function")
    tol = 1e-4 if eager.dtype in (torch.float16, torch.bfloat16, torch.float32) else 1e-10
    if not torch.allclose(traced, eager, rtol=tol, atol=tol * float(eager.abs().max() or 1.0)):
        raise Unsupported("the traced graph disagrees with the function (in-place operations?)")


class _Tracer(fx.Tracer):
    """Inlines every module (so closures over modules trace too) and keeps the tensors a
    function closes over (parameters included) by reference, so gradients reach them."""

    def __init__(self):
        super().__init__()
        self.constants: dict[str, torch.Tensor] = {}

    def call_module(self, m, forward, args, kwargs):
        return forward(*args, **kwargs)

    def create_arg(self, a):
        if isinstance(a, torch.Tensor):
            for name, param in self.root.named_parameters():
                if a is param:
                    return self.create_node("get_attr", name, (), {})
            name = f"_oplearn_constant_{len(self.constants)}"
            self.constants[name] = a
            return self.create_node("get_attr", name, (), {})
        return super().create_arg(a)


class _Interpreter:
    def __init__(self, root: nn.Module, constants: dict, graph: fx.Graph, series: Series):
        self.root = root
        self.constants = constants
        self.graph = graph
        self.series = series

    def run(self, x: Jet) -> Jet:
        env: dict[fx.Node, object] = {}
        placeholders = 0
        for node in self.graph.nodes:
            load = lambda a: fx.node.map_arg(a, env.__getitem__)  # noqa: E731,B023
            if node.op == "placeholder":
                if placeholders == 0:
                    env[node] = x
                elif node.args:
                    env[node] = node.args[0]  # default value of a further argument
                else:
                    raise Unsupported("functions of more than one tensor are not supported")
                placeholders += 1
            elif node.op == "get_attr":
                env[node] = self.constants.get(node.target) if node.target in self.constants \
                    else _get_attr(self.root, node.target)
            elif node.op in ("call_function", "call_method"):
                args, kwargs = load(node.args), load(node.kwargs)
                if not _has_jet(args, kwargs):
                    fn = node.target if node.op == "call_function" else getattr(args[0], node.target)
                    env[node] = fn(*args, **kwargs) if node.op == "call_function" else fn(*args[1:], **kwargs)
                else:
                    try:
                        env[node] = self.call(node.op, node.target, args, kwargs)
                    except (TypeError, ValueError, IndexError, KeyError) as exc:  # arguments we cannot read
                        raise Unsupported(f"{node.op} {node.target}: {exc}") from exc
            elif node.op == "output":
                out = load(node.args[0])
                if not isinstance(out, Jet):
                    raise Unsupported("the output must be one tensor")
                return out
        raise Unsupported("graph without output")

    # -------------------------------------------------------------- dispatch
    def call(self, op: str, target, args: tuple, kwargs: dict) -> Jet:
        s = self.series
        name = target if op == "call_method" else getattr(target, "__name__", str(target))
        rule = _METHOD_RULES.get(target) if op == "call_method" else _FUNCTION_RULES.get(target)
        kwargs = {k: v for k, v in kwargs.items() if not (k == "inplace" and v is False)}
        if rule is not None and not kwargs and len(args) == 1:
            return s.elementwise(args[0], rule)
        if op == "call_function" and target is F.softplus:
            beta = kwargs.get("beta", args[1] if len(args) > 1 else 1.0)
            threshold = kwargs.get("threshold", args[2] if len(args) > 2 else 20.0)
            if threshold < 20:
                raise Unsupported("softplus with a threshold below 20")
            return s.elementwise(args[0], S.softplus_rule(beta))
        if op == "call_function" and target is F.gelu:
            if kwargs.get("approximate", "none") != "none":
                raise Unsupported("tanh-approximated GELU")
            return s.elementwise(args[0], S.gelu_rule)
        if op == "call_function" and target is F.linear:
            weight = args[1] if len(args) > 1 else kwargs["weight"]
            bias = args[2] if len(args) > 2 else kwargs.get("bias")
            return s.linear(args[0], weight, bias)
        if name.startswith("i") and name[1:] in ("add", "sub", "mul", "truediv") or (name.endswith("_") and not name.startswith("__")):
            raise Unsupported(f"in-place {name}: other names of the tensor would keep old values")
        if name in ("add", "sub"):
            if set(kwargs) - {"alpha"}:
                raise Unsupported(f"{name} with {sorted(kwargs)}")
            sign = -1.0 if name == "sub" else 1.0
            return self.add(args[0], args[1], sign * kwargs.get("alpha", 1.0))
        if name == "mul" and not kwargs:
            return self.mul(args[0], args[1])
        if name in ("truediv", "div") and kwargs.get("rounding_mode") is None:
            return self.divide(args[0], args[1])
        if name in ("neg", "__neg__"):
            return s.map_linear(args[0], lambda c: -c)
        if name in ("pow", "__pow__"):
            base, exponent = args
            if isinstance(base, Jet) and isinstance(exponent, (int, float)):
                return s.elementwise(base, S.power_rule(exponent))
            if isinstance(exponent, Jet) and isinstance(base, (int, float)) and base > 0:
                scaled = s.map_linear(exponent, lambda c: c * math.log(base))
                return s.elementwise(scaled, S.exp_rule)
            raise Unsupported("power with a tensor exponent and base")
        if name == "matmul" and isinstance(args[0], Jet) and isinstance(args[1], torch.Tensor) \
                and args[1].ndim <= 2:  # a constant with a batch axis would meet the direction axis
            return s.map_linear(args[0], lambda c: c @ args[1])
        if name in ("sum", "mean"):
            return self.reduce(name, args, kwargs)
        if name == "getitem":
            return self.getitem(args[0], args[1])
        if name == "cat":
            return self.cat(args[0], kwargs.get("dim", args[1] if len(args) > 1 else 0))
        if name in ("unsqueeze", "squeeze") and len(args) == 2 and not kwargs:
            dim = _shift_dim(args[1], args[0].value.ndim - 1 + (name == "unsqueeze"))
            return s.map_linear(args[0], lambda c: getattr(c, name)(dim))
        raise Unsupported(f"no Taylor rule for {op} {name}")

    def add(self, a, b, alpha: float) -> Jet:
        if isinstance(a, Jet) and isinstance(b, Jet):
            return self.series.add(a, b, alpha)
        if isinstance(a, Jet):
            return self.series.map_linear(a, lambda c: c, lambda c: c + alpha * _constant(b, c))
        return self.series.map_linear(b, lambda c: alpha * c, lambda c: _constant(a, c) + alpha * c)

    def mul(self, a, b) -> Jet:
        if isinstance(a, Jet) and isinstance(b, Jet):
            return self.series.multiply(a, b)
        jet, const = (a, b) if isinstance(a, Jet) else (b, a)
        return self.series.map_linear(jet, lambda c: c * _constant(const, c))

    def divide(self, a, b) -> Jet:
        if not isinstance(b, Jet):
            return self.series.map_linear(a, lambda c: c / _constant(b, c))
        inverse = self.series.elementwise(b, S.power_rule(-1))
        return self.mul(a, inverse)

    def reduce(self, name: str, args: tuple, kwargs: dict) -> Jet:
        jet = args[0]
        dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
        keepdim = kwargs.get("keepdim", args[2] if len(args) > 2 else False)
        if dim is None or set(kwargs) - {"dim", "keepdim"}:
            raise Unsupported(f"{name} over all dimensions reduces the batch")
        rank = jet.value.ndim - 1
        dims = [_shift_dim(d, rank) for d in (dim if isinstance(dim, (tuple, list)) else [dim])]
        fn = getattr(torch, name)
        return self.series.map_linear(jet, lambda c: fn(c, dim=dims, keepdim=keepdim))

    def getitem(self, jet: Jet, index) -> Jet:
        index = index if isinstance(index, tuple) else (index,)
        if not index or index[0] != slice(None):
            raise Unsupported("indexing the batch dimension")
        if any(i is Ellipsis or i is None for i in index):
            raise Unsupported("ellipsis or new axes in an index")
        shifted = (slice(None), slice(None)) + index[1:]
        return self.series.map_linear(jet, lambda c: c[shifted])

    def cat(self, parts, dim: int) -> Jet:
        jets = [p for p in parts if isinstance(p, Jet)]
        if len(jets) != len(parts):
            raise Unsupported("cat of jets and constants")
        jets = [self.series.densify(j) for j in jets]
        dim = _shift_dim(dim, jets[0].value.ndim - 1)
        coeffs = []
        for k in range(self.series.order + 1):
            cs = [j.coeffs[k] for j in jets]
            if all(c is None for c in cs):
                coeffs.append(None)
                continue
            ref = next(c for c in cs if c is not None)
            lead = torch.broadcast_shapes(*[c.shape[:2] for c in cs if c is not None])
            filled = []
            for j, c in zip(jets, cs, strict=True):
                c = torch.zeros((), dtype=ref.dtype, device=ref.device) if c is None else c
                filled.append(c.expand(*lead, *j.value.shape[2:]))
            coeffs.append(torch.cat(filled, dim=dim))
        return Jet(coeffs)


def _shift_dim(dim: int, rank: int) -> int:
    """A feature dimension of a rank-``rank`` user tensor, in jet layout (after the V axis)."""
    if dim == 0 or dim == -rank:
        raise Unsupported("operations along the batch dimension")
    return dim if dim < 0 else dim + 1


def _constant(value, coeff: torch.Tensor):
    """A constant in user layout, broadcastable against a coefficient in jet layout."""
    if isinstance(value, torch.Tensor) and value.ndim == coeff.ndim - 1:
        return value.unsqueeze(1)
    return value


def _has_jet(args, kwargs) -> bool:
    found = []
    fx.node.map_aggregate((args, kwargs), lambda a: found.append(a) if isinstance(a, Jet) else None)
    return bool(found)


def _get_attr(root, target: str):
    obj = root
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj
