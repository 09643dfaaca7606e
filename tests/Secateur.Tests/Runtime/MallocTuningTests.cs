using Secateur.Runtime;
using TorchSharp;

namespace Secateur.Tests.Runtime;

// Runs alone (the serial timing collection) because it counts the whole process's page faults.
[Collection(nameof(TimingCollection))]
[Trait("Category", TestCategories.Timing)]
public sealed class MallocTuningTests
{
    [SkippableFact]
    public void LargeTensorBuffers_AreReusedInsteadOfRefaultedFromTheKernel()
    {
        Skip.IfNot(OperatingSystem.IsLinux() && File.Exists("/proc/self/stat"), "glibc's allocator and /proc/self/stat page-fault counts are Linux-only");
        Skip.If(ChildProcess.UserTunedMalloc, "the user's own allocator settings (MALLOC_*, GLIBC_TUNABLES, SECATEUR_MALLOC_TUNING) win; nothing of ours to test");
        // The opt-in an application makes (the CLI makes it at start-up); idempotent, so other tests' CLI runs don't matter.
        SecateurRuntime.ConfigureProcess().ShouldBeTrue();
        NativeLibraries.EnsureTorch();
        MallocTuning.Applied.ShouldBeTrue();

        // 48 MiB buffers, above glibc's largest default mmap threshold (32 MiB) and within a thread heap (64 MiB):
        // untuned, each one is a fresh mmap whose 12,288 pages fault in when written; tuned, the freed block is reused.
        // glibc 2.36's posix_memalign (libtorch's allocator) skips free blocks it could reuse until the heap holds
        // several of them, so the heap grows for a while (about 8 buffers here) before reuse is complete: measure after.
        const int Elements = 12 << 20, Warmup = 24, Cycles = 16, PagesPerBuffer = Elements * 4 / 4096;
        var before = 0L;
        var worker = new Thread(() =>
        {
            for (var i = 0; i < Warmup + Cycles; i++)
            {
                if (i == Warmup)
                    before = MinorFaults();
                using var t = torch.empty(Elements);
                t.fill_(1f);
            }
        });
        worker.Start();
        worker.Join();
        var faults = MinorFaults() - before;

        faults.ShouldBeLessThan(Cycles * PagesPerBuffer / 10, $"{faults} minor faults for {Cycles} reuses of a {Elements * 4 >> 20} MiB buffer");
    }

    private static long MinorFaults()
    {
        // /proc/self/stat: "pid (comm) state ..." with minflt the 10th field; comm may contain spaces, so split after ')'.
        var stat = File.ReadAllText("/proc/self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[7], System.Globalization.CultureInfo.InvariantCulture);
    }
}
