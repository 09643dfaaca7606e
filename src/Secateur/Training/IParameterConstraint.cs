using Secateur.Runtime;

namespace Secateur.Training;

/// <summary>
/// A rule the trainable parameters must keep while training, such as fixed sparsity masks: the
/// <see cref="Trainer"/> applies it to the module before the first step, after every optimizer step and after
/// restoring a checkpoint, so the parameters satisfy it at every point another component can observe them.
/// </summary>
public interface IParameterConstraint
{
    /// <summary>Projects the parameters of <paramref name="module"/> onto the constraint, in place (without autograd).</summary>
    void Apply(GraphModule module);
}
