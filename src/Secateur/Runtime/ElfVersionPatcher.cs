using System.Buffers.Binary;
using System.Text;

namespace Secateur.Runtime;

/// <summary>One symbol-version requirement (a <c>Vernaux</c> entry in <c>.gnu.version_r</c>) of an ELF shared object.</summary>
/// <param name="File">The library the version is required from, e.g. <c>libstdc++.so.6</c>.</param>
/// <param name="Version">The version name, e.g. <c>GLIBCXX_3.4.32</c>.</param>
/// <param name="Flags">The raw <c>vna_flags</c> value.</param>
/// <param name="Index">The version index (<c>vna_other</c>) that <c>.gnu.version</c> entries use to refer to this requirement.</param>
/// <param name="FlagsOffset">The byte offset of the two-byte <c>vna_flags</c> field in the file.</param>
internal sealed record VersionNeed(string File, string Version, ushort Flags, ushort Index, int FlagsOffset)
{
    /// <summary>Whether the requirement is weak (<c>VER_FLG_WEAK</c>), i.e. the dynamic loader does not fail when it is missing.</summary>
    public bool IsWeak => (Flags & ElfVersionPatcher.VerFlagWeak) != 0;
}

/// <summary>
/// Reads and patches the GNU symbol-versioning sections of little-endian ELF64 files
/// (the only kind TorchSharp ships for Linux), without any native tooling.
/// </summary>
/// <remarks>
/// This exists so that a library built against a newer libstdc++ than the system's can still be loaded when the
/// newer version is required only nominally (no relocation binds a symbol of that version): marking the
/// requirement weak makes glibc's loader skip the check. Every read is bounds-checked; malformed input raises a
/// <see cref="SecateurException"/> naming the file rather than an <see cref="IndexOutOfRangeException"/>.
/// </remarks>
internal static class ElfVersionPatcher
{
    /// <summary><c>VER_FLG_BASE</c>: the version definition of the file itself.</summary>
    internal const ushort VerFlagBase = 0x1;

    /// <summary><c>VER_FLG_WEAK</c>: a weak version requirement.</summary>
    internal const ushort VerFlagWeak = 0x2;

    private const uint ShtStrtab = 3;
    private const uint ShtRela = 4;
    private const uint ShtDynamic = 6;
    private const uint ShtRel = 9;
    private const uint ShtDynsym = 11;
    private const uint ShtGnuVerdef = 0x6ffffffd;
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const uint ShtGnuVersym = 0x6fffffff;
    private const long DtNull = 0;
    private const long DtNeeded = 1;
    private const int ElfHeaderSize = 64;
    private const int SectionHeaderSize = 64;
    private const int VerneedSize = 16;
    private const int VernauxSize = 16;
    private const int VerdefSize = 20;
    private const int VerdauxSize = 8;

    /// <summary>Lists every version requirement in the file's <c>.gnu.version_r</c> section (empty when it has none).</summary>
    /// <param name="elf">The file's bytes.</param>
    /// <param name="fileName">The file's name or path, used only in error messages.</param>
    /// <exception cref="SecateurException">The bytes are not a well-formed little-endian ELF64 file.</exception>
    public static IReadOnlyList<VersionNeed> ReadVersionNeeds(byte[] elf, string fileName = "<memory>")
    {
        var file = new ElfFile(elf, fileName);
        var result = new List<VersionNeed>();
        foreach (var section in file.Sections.Where(s => s.Type == ShtGnuVerneed))
        {
            var strtab = file.LinkedStringTable(section);
            var (start, end) = file.Extent(section);
            var entry = start;
            // sh_info holds the number of Verneed entries; trusting the vn_next chain alone could loop forever.
            for (var i = 0u; i < section.Info; i++)
            {
                file.Require(entry, VerneedSize, start, end, "Verneed entry");
                var count = file.U16(entry + 2);
                var libName = file.String(strtab, file.U32(entry + 4));
                var aux = entry + (long)file.U32(entry + 8);
                for (var j = 0; j < count; j++)
                {
                    file.Require(aux, VernauxSize, start, end, "Vernaux entry");
                    var flagsOffset = checked((int)(aux + 4));
                    result.Add(new VersionNeed(libName, file.String(strtab, file.U32(aux + 8)),
                        file.U16(aux + 4), file.U16(aux + 6), flagsOffset));
                    var next = file.U32(aux + 12);
                    if (next == 0 && j + 1 < count)
                        throw file.Malformed($"a Verneed entry for {libName} announces {count} Vernaux entries but its chain ends after {j + 1}");
                    aux += next;
                }

                var nextNeed = file.U32(entry + 12);
                if (nextNeed == 0)
                    break;
                entry += nextNeed;
            }
        }

        return result;
    }

    /// <summary>
    /// Lists the version names the file defines in its <c>.gnu.version_d</c> section (excluding the base entry, which
    /// names the file itself). For libstdc++ these are e.g. <c>GLIBCXX_3.4</c> … <c>GLIBCXX_3.4.30</c>.
    /// </summary>
    /// <param name="elf">The file's bytes.</param>
    /// <param name="fileName">The file's name or path, used only in error messages.</param>
    /// <exception cref="SecateurException">The bytes are not a well-formed little-endian ELF64 file.</exception>
    public static IReadOnlySet<string> ReadVersionDefinitions(byte[] elf, string fileName = "<memory>")
    {
        var file = new ElfFile(elf, fileName);
        var result = new HashSet<string>(StringComparer.Ordinal);
        foreach (var section in file.Sections.Where(s => s.Type == ShtGnuVerdef))
        {
            var strtab = file.LinkedStringTable(section);
            var (start, end) = file.Extent(section);
            var entry = start;
            for (var i = 0u; i < section.Info; i++)
            {
                file.Require(entry, VerdefSize, start, end, "Verdef entry");
                var flags = file.U16(entry + 2);
                var auxCount = file.U16(entry + 6);
                // The first Verdaux names the version; any further ones name its parents, which are defined elsewhere.
                if (auxCount > 0 && (flags & VerFlagBase) == 0)
                {
                    var aux = entry + (long)file.U32(entry + 12);
                    file.Require(aux, VerdauxSize, start, end, "Verdaux entry");
                    result.Add(file.String(strtab, file.U32(aux)));
                }

                var next = file.U32(entry + 16);
                if (next == 0)
                    break;
                entry += next;
            }
        }

        return result;
    }

    /// <summary>Lists the <c>DT_NEEDED</c> entries (the libraries the dynamic loader loads alongside this one) in order.</summary>
    /// <param name="elf">The file's bytes.</param>
    /// <param name="fileName">The file's name or path, used only in error messages.</param>
    /// <exception cref="SecateurException">The bytes are not a well-formed little-endian ELF64 file.</exception>
    public static IReadOnlyList<string> ReadNeededLibraries(byte[] elf, string fileName = "<memory>")
    {
        var file = new ElfFile(elf, fileName);
        var result = new List<string>();
        foreach (var section in file.Sections.Where(s => s.Type == ShtDynamic))
        {
            var strtab = file.LinkedStringTable(section);
            var (start, end) = file.Extent(section);
            for (var entry = start; entry + 16 <= end; entry += 16)
            {
                var tag = file.I64(entry);
                if (tag == DtNull)
                    break;
                if (tag == DtNeeded)
                    result.Add(file.String(strtab, checked((uint)file.U64(entry + 8))));
            }
        }

        return result;
    }

    /// <summary>
    /// Names the dynamic symbols bound to the given required version that some relocation actually references. If this
    /// is empty, no symbol is ever looked up under that version, so marking the requirement weak cannot leave an
    /// unresolved symbol behind (which would otherwise surface later as a process-killing lazy-binding failure).
    /// </summary>
    /// <param name="elf">The file's bytes.</param>
    /// <param name="versionName">The required version, e.g. <c>GLIBCXX_3.4.32</c>.</param>
    /// <param name="fileName">The file's name or path, used only in error messages.</param>
    /// <exception cref="SecateurException">The bytes are not a well-formed little-endian ELF64 file.</exception>
    public static IReadOnlyList<string> FindRelocatedSymbols(byte[] elf, string versionName, string fileName = "<memory>")
    {
        var indices = ReadVersionNeeds(elf, fileName).Where(n => n.Version == versionName).Select(n => n.Index).ToHashSet();
        if (indices.Count == 0)
            return [];

        var file = new ElfFile(elf, fileName);
        var result = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var versym in file.Sections.Where(s => s.Type == ShtGnuVersym))
        {
            // .gnu.version is parallel to the symbol table it links to; relocations name symbols by index in that table.
            var symtabIndex = versym.Link;
            if (symtabIndex >= file.Sections.Count || file.Sections[(int)symtabIndex].Type != ShtDynsym)
                throw file.Malformed(".gnu.version does not link to a dynamic symbol table");
            var symtab = file.Sections[(int)symtabIndex];
            var symStrtab = file.LinkedStringTable(symtab);
            var (symStart, symEnd) = file.Extent(symtab);
            var (verStart, verEnd) = file.Extent(versym);
            var symbolCount = (symEnd - symStart) / 24;

            var versioned = new HashSet<long>();
            for (long i = 0; i < symbolCount && verStart + 2 * i + 2 <= verEnd; i++)
            {
                // Bit 15 marks a hidden symbol; the low 15 bits are the version index.
                if (indices.Contains((ushort)(file.U16(verStart + 2 * i) & 0x7fff)))
                    versioned.Add(i);
            }

            if (versioned.Count == 0)
                continue;

            foreach (var reloc in file.Sections.Where(s => (s.Type == ShtRela || s.Type == ShtRel) && s.Link == symtabIndex))
            {
                var (start, end) = file.Extent(reloc);
                var size = reloc.Type == ShtRela ? 24 : 16;
                for (var entry = start; entry + size <= end; entry += size)
                {
                    var symbol = (long)(file.U64(entry + 8) >> 32);
                    if (versioned.Contains(symbol))
                        result.Add(file.String(symStrtab, file.U32(symStart + 24 * symbol)));
                }
            }
        }

        return [.. result];
    }

    /// <summary>
    /// Returns a copy of the file in which every requirement of <paramref name="versionName"/> is marked weak. Only the
    /// <c>vna_flags</c> bytes of those requirements can differ from the input; patching an already patched file returns
    /// an identical copy.
    /// </summary>
    /// <param name="elf">The file's bytes; not modified.</param>
    /// <param name="versionName">The required version to weaken, e.g. <c>GLIBCXX_3.4.32</c>.</param>
    /// <param name="fileName">The file's name or path, used only in error messages.</param>
    /// <exception cref="SecateurException">The file is malformed or does not require <paramref name="versionName"/>.</exception>
    public static byte[] MarkWeak(byte[] elf, string versionName, string fileName = "<memory>")
    {
        var needs = ReadVersionNeeds(elf, fileName).Where(n => n.Version == versionName).ToList();
        if (needs.Count == 0)
            throw new SecateurException(ErrorCode.NativeLoad, $"{fileName} does not require symbol version {versionName}, so there is nothing to mark weak.");

        var copy = (byte[])elf.Clone();
        foreach (var need in needs)
            BinaryPrimitives.WriteUInt16LittleEndian(copy.AsSpan(need.FlagsOffset), (ushort)(need.Flags | VerFlagWeak));
        return copy;
    }

    private readonly record struct Section(uint Type, long Offset, long Size, uint Link, uint Info);

    /// <summary>A validated view of an ELF64 little-endian file's section headers with bounds-checked readers.</summary>
    private sealed class ElfFile
    {
        private readonly byte[] bytes;
        private readonly string name;

        public ElfFile(byte[] bytes, string name)
        {
            this.bytes = bytes;
            this.name = name;
            if (bytes.Length < ElfHeaderSize)
                throw Malformed($"it is only {bytes.Length} bytes long, shorter than an ELF header");
            if (bytes[0] != 0x7f || bytes[1] != (byte)'E' || bytes[2] != (byte)'L' || bytes[3] != (byte)'F')
                throw Malformed("it does not start with the ELF magic number");
            if (bytes[4] != 2)
                throw Malformed($"it is not a 64-bit ELF file (EI_CLASS = {bytes[4]})");
            if (bytes[5] != 1)
                throw Malformed($"it is not a little-endian ELF file (EI_DATA = {bytes[5]})");

            var shoff = U64(0x28);
            var shentsize = U16(0x3a);
            long shnum = U16(0x3c);
            if (shoff == 0)
            {
                Sections = [];
                return;
            }

            if (shentsize != SectionHeaderSize)
                throw Malformed($"its section header size is {shentsize}, not {SectionHeaderSize}");
            if (shoff > (ulong)bytes.Length)
                throw Malformed("its section header table lies beyond the end of the file (truncated?)");
            Require((long)shoff, SectionHeaderSize, 0, bytes.Length, "section header table");
            // With 0xff00 or more sections the real count lives in the first section header's sh_size.
            if (shnum == 0)
                shnum = checked((long)U64((long)shoff + 32));
            if (shnum > (bytes.Length - (long)shoff) / SectionHeaderSize)
                throw Malformed("its section header table extends beyond the end of the file (truncated?)");

            var sections = new List<Section>((int)shnum);
            for (long i = 0; i < shnum; i++)
            {
                var header = (long)shoff + i * SectionHeaderSize;
                var type = U32(header + 4);
                var offset = U64(header + 24);
                var size = U64(header + 32);
                // SHT_NOBITS (8) occupies no file space, so its offset/size need not fit the file.
                if (type != 8 && type != 0 && (offset > (ulong)bytes.Length || size > (ulong)bytes.Length - offset))
                    throw Malformed($"section {i} (type 0x{type:x}) extends beyond the end of the file (truncated?)");
                sections.Add(new Section(type, (long)offset, (long)size, U32(header + 40), U32(header + 44)));
            }

            Sections = sections;
        }

        public IReadOnlyList<Section> Sections { get; }

        public (long Start, long End) Extent(Section section) => (section.Offset, section.Offset + section.Size);

        public Section LinkedStringTable(Section section)
        {
            if (section.Link == 0 || section.Link >= Sections.Count || Sections[(int)section.Link].Type != ShtStrtab)
                throw Malformed($"a section of type 0x{section.Type:x} does not link to a string table");
            return Sections[(int)section.Link];
        }

        public string String(Section strtab, uint index)
        {
            if (index >= strtab.Size)
                throw Malformed($"a string index ({index}) lies outside its string table");
            var start = (int)(strtab.Offset + index);
            var nul = Array.IndexOf(bytes, (byte)0, start, (int)(strtab.Offset + strtab.Size - start));
            if (nul < 0)
                throw Malformed("a string in a string table is not NUL-terminated");
            return Encoding.UTF8.GetString(bytes, start, nul - start);
        }

        public void Require(long offset, int size, long start, long end, string what)
        {
            if (offset < start || offset + size > end)
                throw Malformed($"a {what} lies outside its section");
        }

        public ushort U16(long offset) => BinaryPrimitives.ReadUInt16LittleEndian(Slice(offset, 2));

        public uint U32(long offset) => BinaryPrimitives.ReadUInt32LittleEndian(Slice(offset, 4));

        public ulong U64(long offset) => BinaryPrimitives.ReadUInt64LittleEndian(Slice(offset, 8));

        public long I64(long offset) => BinaryPrimitives.ReadInt64LittleEndian(Slice(offset, 8));

        public SecateurException Malformed(string why) =>
            new(ErrorCode.NativeLoad, $"'{name}' is not a well-formed ELF64 little-endian shared library: {why}.");

        private ReadOnlySpan<byte> Slice(long offset, int size)
        {
            if (offset < 0 || offset > bytes.Length - size)
                throw Malformed($"a read at offset {offset} runs past the end of the file (truncated?)");
            return bytes.AsSpan((int)offset, size);
        }
    }
}
