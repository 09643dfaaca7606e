using Secateur.Graph;
using Secateur.Runtime;

namespace Secateur.Tests.Runtime;

/// <summary>The kernel table is the runtime's one list of ops: it covers every OpKind, and a gap is a typed error.</summary>
public sealed class KernelsTests
{
    [Fact]
    public void Every_op_kind_has_a_kernel()
    {
        Kernels.Supported.ShouldBe(Enum.GetValues<OpKind>(), ignoreOrder: true);
        foreach (var kind in Enum.GetValues<OpKind>())
            Kernels.For(new Node("n", kind, ["x"], ["y"])).ShouldNotBeNull();
    }

    [Fact]
    public void An_op_without_a_kernel_is_UnsupportedOp_naming_the_op_and_the_node()
    {
        var node = new Node("mystery", (OpKind)9999, ["x"], ["y"]);
        var e = Should.Throw<SecateurException>(() => Kernels.For(node));
        e.Code.ShouldBe(ErrorCode.UnsupportedOp);
        e.Message.ShouldContain("'mystery'");
        e.Message.ShouldContain("9999");
    }
}
