using System.Reflection;
using System.Text;

namespace Secateur.Tests.PublicApi;

/// <summary>
/// The library's public API, one line per type and member, compared with the committed snapshot
/// <c>Secateur.api.txt</c>: an API change is then a visible diff in review. After an intended change, run this test with
/// SECATEUR_UPDATE_API=1 to rewrite the snapshot, and commit it with the change.
/// </summary>
public sealed class PublicApiTests
{
    private const string SnapshotFile = "Secateur.api.txt";

    [Fact]
    public void Public_api_matches_the_committed_snapshot()
    {
        var actual = Describe(typeof(SecateurException).Assembly);
        var path = Path.Combine(LibraryWordingTests.RepositoryRoot(), "tests", "Secateur.Tests", "PublicApi", SnapshotFile);
        if (Environment.GetEnvironmentVariable("SECATEUR_UPDATE_API") == "1") File.WriteAllText(path, actual);
        var expected = File.Exists(path) ? File.ReadAllText(path) : "";
        if (actual == expected) return;
        var before = expected.Split('\n').ToHashSet(StringComparer.Ordinal);
        var after = actual.Split('\n').ToHashSet(StringComparer.Ordinal);
        var removed = before.Except(after).Take(20).Select(l => "- " + l);
        var added = after.Except(before).Take(20).Select(l => "+ " + l);
        actual.ShouldBe(expected, "the public API changed; if intended, run this test with SECATEUR_UPDATE_API=1 and commit " +
            $"{SnapshotFile}. First differences:\n{string.Join('\n', removed.Concat(added))}");
    }

    [Fact]
    public void The_description_sees_members_and_signatures()
    {
        var text = Describe(typeof(SecateurException).Assembly);
        text.ShouldContain("class Secateur.Pruning.PruningPipeline");
        text.ShouldContain("  method static Secateur.Pruning.PruneOutcome Run(Secateur.Graph.ModelGraph graph, Secateur.Pruning.PruneRequest request, Secateur.Training.IWorkflowProgress? progress = null)");
        text.ShouldNotContain("Secateur.Onnx.Proto.", customMessage: "internal generated protobuf types are not public API");
    }

    /// <summary>Every public type of <paramref name="assembly"/> and its public and protected members, sorted, one per line.</summary>
    internal static string Describe(Assembly assembly)
    {
        var sb = new StringBuilder();
        foreach (var type in assembly.GetExportedTypes().OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            sb.Append(TypeLine(type)).Append('\n');
            var members = type.GetMembers(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
                .Where(IsVisible)
                .Select(m => MemberLine(type, m))
                .Where(l => l is not null)
                .Order(StringComparer.Ordinal);
            foreach (var line in members) sb.Append("  ").Append(line).Append('\n');
        }
        return sb.ToString();
    }

    private static string TypeLine(Type t)
    {
        var kind = t.IsEnum ? "enum" : t.IsInterface ? "interface" : t.IsValueType ? (IsRecord(t) ? "record struct" : "struct")
            : typeof(Delegate).IsAssignableFrom(t) ? "delegate" : IsRecord(t) ? "record" : "class";
        var modifiers = t.IsAbstract && t.IsSealed ? "static " : t.IsAbstract && !t.IsInterface ? "abstract " : t.IsSealed && !t.IsValueType && !t.IsEnum && !typeof(Delegate).IsAssignableFrom(t) ? "sealed " : "";
        var bases = new List<string>();
        if (t.BaseType is { } b && b != typeof(object) && b != typeof(ValueType) && b != typeof(Enum) && !typeof(Delegate).IsAssignableFrom(t)) bases.Add(Name(b));
        bases.AddRange(t.GetInterfaces().Where(i => i.IsPublic || i.IsNestedPublic).Where(i => !i.Name.StartsWith("IEquatable", StringComparison.Ordinal)).Select(i => Name(i)).Order(StringComparer.Ordinal));
        return $"{modifiers}{kind} {Name(t)}{(bases.Count > 0 ? " : " + string.Join(", ", bases) : "")}";
    }

    private static bool IsRecord(Type t) => t.GetMethod("<Clone>$") is not null || t.GetMethod("PrintMembers", BindingFlags.NonPublic | BindingFlags.Instance) is not null && t.IsValueType;

    private static bool IsVisible(MemberInfo m) => m switch
    {
        MethodBase mb => (mb.IsPublic || mb.IsFamily || mb.IsFamilyOrAssembly) && !(mb.IsSpecialName && mb is MethodInfo) && !IsCompilerGenerated(mb),
        PropertyInfo p => p.GetAccessors(true).Any(a => a.IsPublic || a.IsFamily || a.IsFamilyOrAssembly),
        FieldInfo f => (f.IsPublic || f.IsFamily || f.IsFamilyOrAssembly) && !f.IsSpecialName,
        EventInfo e => e.AddMethod is { } add && (add.IsPublic || add.IsFamily),
        Type nested => nested.IsNestedPublic || nested.IsNestedFamily,
        _ => false,
    };

    private static bool IsCompilerGenerated(MethodBase m) =>
        m.Name is "<Clone>$" or "PrintMembers" || m.Name.StartsWith('<') || (m.Name is "Equals" or "GetHashCode" or "ToString" && m.DeclaringType!.GetMethod("<Clone>$") is not null && m.GetParameters().Length <= 1);

    private static string? MemberLine(Type owner, MemberInfo m) => m switch
    {
        ConstructorInfo c => $"ctor({Parameters(c)})",
        MethodInfo mi => $"method {(mi.IsStatic ? "static " : mi.IsAbstract ? "abstract " : mi.IsVirtual && mi.GetBaseDefinition() == mi && !owner.IsSealed ? "virtual " : "")}{Name(mi.ReturnType, mi.ReturnParameter)} {mi.Name}{Generic(mi)}({Parameters(mi)})",
        PropertyInfo p => $"property {(p.GetAccessors(true)[0].IsStatic ? "static " : "")}{Name(p.PropertyType, p)} {p.Name}{(p.GetIndexParameters().Length > 0 ? "[" + string.Join(", ", p.GetIndexParameters().Select(Parameter)) + "]" : "")} {{ {Accessors(p)}}}",
        FieldInfo f => owner.IsEnum ? $"{f.Name} = {Convert.ToInt64(f.GetRawConstantValue(), System.Globalization.CultureInfo.InvariantCulture)}"
            : $"field {(f.IsLiteral ? "const " : f.IsStatic ? "static " : "")}{(f.IsInitOnly ? "readonly " : "")}{Name(f.FieldType, f)} {f.Name}",
        EventInfo e => $"event {Name(e.EventHandlerType!)} {e.Name}",
        Type nested => $"nested {TypeLine(nested)}",
        _ => null,
    };

    private static string Accessors(PropertyInfo p)
    {
        var s = "";
        if (p.GetMethod is { } g && (g.IsPublic || g.IsFamily)) s += "get; ";
        if (p.SetMethod is { } set && (set.IsPublic || set.IsFamily))
            s += set.ReturnParameter.GetRequiredCustomModifiers().Any(t => t.FullName == "System.Runtime.CompilerServices.IsExternalInit") ? "init; " : "set; ";
        return s;
    }

    private static string Generic(MethodInfo m) => m.IsGenericMethodDefinition ? "<" + string.Join(", ", m.GetGenericArguments().Select(a => a.Name)) + ">" : "";

    private static string Parameters(MethodBase m) => string.Join(", ", m.GetParameters().Select(Parameter));

    private static string Parameter(ParameterInfo p)
    {
        var prefix = p.IsOut ? "out " : p.ParameterType.IsByRef ? (p.IsIn ? "in " : "ref ") : p.GetCustomAttribute<ParamArrayAttribute>() is not null ? "params " : "";
        var type = p.ParameterType.IsByRef ? p.ParameterType.GetElementType()! : p.ParameterType;
        var text = $"{prefix}{Name(type, p)} {p.Name}";
        if (p.HasDefaultValue) text += " = " + (p.DefaultValue switch { null => "null", string s => $"\"{s}\"", bool b => b ? "true" : "false", IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture), var v => v.ToString() });
        return text;
    }

    private static readonly NullabilityInfoContext Nullability = new();

    private static string Name(Type t, object? nullabilitySource = null)
    {
        var nullable = nullabilitySource switch
        {
            ParameterInfo p when !t.IsValueType => Nullability.Create(p).ReadState == NullabilityState.Nullable,
            PropertyInfo p when !t.IsValueType => Nullability.Create(p).ReadState == NullabilityState.Nullable,
            FieldInfo f when !t.IsValueType => Nullability.Create(f).ReadState == NullabilityState.Nullable,
            _ => false,
        };
        return Name(t) + (nullable ? "?" : "");
    }

    private static string Name(Type t)
    {
        if (Nullable.GetUnderlyingType(t) is { } inner) return Name(inner) + "?";
        if (t.IsArray) return Name(t.GetElementType()!) + "[" + new string(',', t.GetArrayRank() - 1) + "]";
        if (t.IsGenericParameter) return t.Name;
        var name = t.IsNested ? Name(t.DeclaringType!) + "." + t.Name : (t.Namespace is { } ns ? ns + "." : "") + t.Name;
        if (!t.IsGenericType) return name;
        var tick = name.IndexOf('`', StringComparison.Ordinal);
        return (tick < 0 ? name : name[..tick]) + "<" + string.Join(", ", t.GetGenericArguments().Select(a => Name(a))) + ">";
    }
}
