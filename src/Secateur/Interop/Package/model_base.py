

class Scope(nn.Module):
    """One prefix of the dotted tensor names (e.g. `layer1.0`): holds what lies under it, so state_dict keys are the names."""

    def forward(self, *args):
        raise RuntimeError("a Scope only holds tensors")


class SecateurModule(nn.Module):
    """Parameters and buffers registered under their Secateur names; forward is the generated graph."""

    def __init__(self, parameters, buffers):
        super().__init__()
        self._where = {}  # Secateur name -> (holding module, attribute, is_buffer)
        self.renamed = {}  # state_dict key -> Secateur name, for a name that cannot be a dotted path
        for name, shape in parameters.items():
            self._place(name, nn.Parameter(torch.zeros(shape)), False)
        for name, shape in buffers.items():
            self._place(name, torch.zeros(shape), True)

    def _place(self, name, value, is_buffer):
        parts = name.split(".")
        try:
            if "" in parts:
                raise KeyError(name)
            m = self
            for p in parts[:-1]:
                sub = m._modules.get(p)
                if sub is None:
                    sub = Scope()
                    m.add_module(p, sub)
                elif not isinstance(sub, Scope):
                    raise KeyError(name)
                m = sub
            leaf = parts[-1]
            if leaf in m._modules or leaf in m._parameters or leaf in m._buffers:
                raise KeyError(name)
            (m.register_buffer if is_buffer else m.register_parameter)(leaf, value)
        except KeyError:
            # Not expressible as a path of attributes (an empty part, a clash with another name or with nn.Module's
            # own attributes): kept at the top under a plain key, mapped back on saving.
            m, leaf = self, "renamed_%d" % len(self.renamed)
            self.renamed[leaf] = name
            (m.register_buffer if is_buffer else m.register_parameter)(leaf, value)
        self._where[name] = (m, leaf, is_buffer)

    def t(self, name):
        """The parameter or buffer Secateur calls `name`."""
        m, leaf, is_buffer = self._where[name]
        return m._buffers[leaf] if is_buffer else m._parameters[leaf]

    def tensors(self):
        """Every parameter and buffer by its Secateur name, detached, on the CPU, in float32."""
        return {name: self.t(name).detach().to("cpu", torch.float32).contiguous() for name in self._where}

    def load_weights(self, path):
        """Loads a safetensors file, checking that it has exactly this model's tensors with their shapes."""
        tensors = load_file(path)
        missing = [n for n in self._where if n not in tensors]
        extra = [n for n in tensors if n not in self._where]
        if missing or extra:
            raise ValueError("%s does not fit %s: missing %s, unexpected %s" % (path, NAME, missing[:5], extra[:5]))
        with torch.no_grad():
            for name, value in tensors.items():
                target = self.t(name)
                if tuple(value.shape) != tuple(target.shape):
                    raise ValueError("%s: tensor %r has shape %s, the model needs %s" % (path, name, tuple(value.shape), tuple(target.shape)))
                target.copy_(value)

    def save_weights(self, path, metadata=None):
        """Writes every parameter and buffer, under Secateur's names, as safetensors (what `secateur import-weights` reads)."""
        save_file(self.tensors(), path, metadata=dict(metadata or {}, format="pt", model=NAME))


def resize_axis(x, axis, low, high=None, weight=None):
    """One axis of ONNX Resize as Secateur runs it: output k reads source low[k] (nearest), or lerps low[k]..high[k] by weight[k]."""
    a = x.index_select(axis, torch.tensor(low, device=x.device))
    if weight is None:
        return a
    shape = [1] * x.dim()
    shape[axis] = len(weight)
    w = torch.tensor(weight, dtype=x.dtype, device=x.device).reshape(shape)  # broadcasts along the axis
    return a + (x.index_select(axis, torch.tensor(high, device=x.device)) - a) * w
