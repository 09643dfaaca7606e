using Secateur.Runtime;

namespace Secateur.Tests.Runtime;

/// <summary>
/// What the library does to its host process by itself, seen from fresh child processes (the test host has loaded
/// libtorch and opted into the tuning long before these run, so only a new process can show the defaults).
/// </summary>
public sealed class ProcessSideEffectsTests
{
    [SkippableFact]
    [Trait("Category", TestCategories.Slow)]
    public void Managed_criteria_prune_without_loading_libtorch_and_a_tensor_criterion_loads_it()
    {
        Skip.IfNot(ChildProcess.CanSeeMappedLibraries, "needs /proc/self/maps to see which native libraries a process mapped");
        var report = ChildProcess.Run("managed-criteria").ToDictionary();
        // The prunes really ran: each removed channels from ResNet-20 (31,021,952 MACs dense) ...
        foreach (var criterion in new[] { "l1", "l2", "bn", "random" })
            long.Parse(report[$"{criterion}.macs"], System.Globalization.CultureInfo.InvariantCulture).ShouldBeInRange(1, 31_021_951);
        // ... without libtorch mapped or even prepared,
        report["after-managed.torch"].ShouldBe("False");
        report["after-managed.status"].ShouldBe(nameof(NativeFixStatus.NotChecked));
        // and the probe does see libtorch once a tensor criterion needs it, so the "False" above is not blindness.
        report["after-fpgm.torch"].ShouldBe("True");
        report["after-fpgm.status"].ShouldNotBe(nameof(NativeFixStatus.NotChecked));
    }

    [SkippableFact]
    public void Loading_libtorch_leaves_the_allocator_alone_until_the_application_opts_in()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "the allocator tuning exists only for glibc");
        Skip.If(ChildProcess.UserTunedMalloc, "the user's own allocator settings win; nothing of ours to see");
        var report = ChildProcess.Run("process-tuning").ToDictionary();
        report["loaded.configured"].ShouldBe("False");
        report["loaded.malloc"].ShouldBe("False"); // libtorch loaded, allocator untouched: the library default
        report["configure.returned"].ShouldBe("True");
        report["configured.configured"].ShouldBe("True");
        report["configured.malloc"].ShouldBe("True");
    }

    [SkippableFact]
    [Trait("Category", TestCategories.Cli)]
    public void The_cli_opts_its_process_into_the_tuning_at_start_up()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "the allocator tuning exists only for glibc");
        Skip.If(ChildProcess.UserTunedMalloc, "the user's own allocator settings win; nothing of ours to see");
        var report = ChildProcess.Run("cli").ToDictionary();
        report["cli.exit"].ShouldBe("0");
        report["cli.configured"].ShouldBe("True");
        report["cli.malloc"].ShouldBe("True");
    }
}
