using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace GtaIlgpu.Benchmarking;

/// <summary>One kernel assembled for one architecture: what ptxas allocated and the occupancy that allows.</summary>
public sealed record KernelResourceRow
{
    public required string Kernel { get; init; }
    public required string Architecture { get; init; }
    /// <summary>"explicit": the launcher's fixed group size; "auto": the driver's occupancy-maximizing choice.</summary>
    public required string Launch { get; init; }
    public required int GroupSize { get; init; }
    public required int Registers { get; init; }
    public required int StaticSharedBytes { get; init; }
    public required int DynamicSharedBytes { get; init; }
    public required int StackFrameBytes { get; init; }
    public required int SpillStoreBytes { get; init; }
    public required int SpillLoadBytes { get; init; }
    public required int GroupsPerSm { get; init; }
    public required int ActiveWarps { get; init; }
    public required double Occupancy { get; init; }
    public required List<string> LimitedBy { get; init; }
    /// <summary>Why occupancy is what it is, in numbers (only below 100%).</summary>
    public string? Reason { get; init; }

    [JsonIgnore]
    public bool Spills => SpillStoreBytes > 0 || SpillLoadBytes > 0;
}

/// <summary>
/// `gta bench resources`: every kernel assembled by ptxas -v for each target, with its theoretical
/// occupancy at its launch configuration. JSON for `gta bench compare`, Markdown for people.
/// </summary>
public sealed record KernelResourceReport
{
    public const int CurrentSchema = 1;
    public const string ReportKind = "kernel-resources";

    public int Schema { get; init; } = CurrentSchema;
    public string Kind { get; init; } = ReportKind;
    public required DateTimeOffset Timestamp { get; init; }
    public required string Commit { get; init; }
    public required string Ptxas { get; init; }
    public required string PtxIsa { get; init; }
    public required List<SmLimits> Targets { get; init; }
    public required List<KernelResourceRow> Results { get; init; }

    /// <summary>Compiles every kernel to PTX, assembles it for every target and computes occupancy.</summary>
    public static KernelResourceReport Generate(Ptxas ptxas, PtxCompiler compiler, IEnumerable<GpuKernel> kernels, IReadOnlyList<SmLimits> targets, string commit)
    {
        var rows = new List<KernelResourceRow>();
        foreach (var kernel in kernels)
        {
            string ptx = compiler.Compile(kernel);
            // No kernel takes dynamic shared memory today; one that does must say how much its launcher requests.
            if (ptx.Contains(".extern .shared", StringComparison.Ordinal))
                throw new NotSupportedException($"{kernel.Name} declares dynamic shared memory: teach the resource report the size its launcher requests");
            foreach (var sm in targets)
                rows.Add(Row(kernel, sm, ptxas.Usage(ptx, sm.Architecture, kernel.Name)));
        }
        return new KernelResourceReport
        {
            Timestamp = DateTimeOffset.UtcNow,
            Commit = commit,
            Ptxas = ptxas.Version,
            PtxIsa = $"{compiler.InstructionSet.Major}.{compiler.InstructionSet.Minor}",
            Targets = targets.ToList(),
            Results = rows,
        };
    }

    public static KernelResourceRow Row(GpuKernel kernel, SmLimits sm, PtxasUsage usage)
    {
        int groupSize = kernel.GroupSize ?? Benchmarking.Occupancy.MaxPotentialGroupSize(sm, usage.Registers, usage.SharedBytes);
        var occupancy = Benchmarking.Occupancy.Compute(sm, groupSize, usage.Registers, usage.SharedBytes);
        return new KernelResourceRow
        {
            Kernel = kernel.Name,
            Architecture = sm.Architecture,
            Launch = kernel.GroupSize is null ? "auto" : "explicit",
            GroupSize = groupSize,
            Registers = usage.Registers,
            StaticSharedBytes = usage.SharedBytes,
            DynamicSharedBytes = 0,
            StackFrameBytes = usage.StackFrameBytes,
            SpillStoreBytes = usage.SpillStoreBytes,
            SpillLoadBytes = usage.SpillLoadBytes,
            GroupsPerSm = occupancy.GroupsPerSm,
            ActiveWarps = occupancy.ActiveWarps,
            Occupancy = occupancy.Occupancy,
            LimitedBy = LimiterNames(occupancy.LimitedBy),
            Reason = occupancy.Occupancy < 1 ? Explain(sm, usage, occupancy) : null,
        };
    }

    public static List<string> LimiterNames(OccupancyLimiter limiters)
    {
        var names = new List<string>();
        if (limiters.HasFlag(OccupancyLimiter.Registers)) names.Add("registers");
        if (limiters.HasFlag(OccupancyLimiter.SharedMemory)) names.Add("shared memory");
        if (limiters.HasFlag(OccupancyLimiter.GroupSize)) names.Add("group size");
        if (limiters.HasFlag(OccupancyLimiter.GroupsPerSm)) names.Add("groups per SM");
        return names;
    }

    private static string Explain(SmLimits sm, PtxasUsage usage, OccupancyResult o)
    {
        var inv = CultureInfo.InvariantCulture;
        int warpsPerGroup = (o.GroupSize + sm.WarpSize - 1) / sm.WarpSize;
        var parts = new List<string>();
        if (o.LimitedBy.HasFlag(OccupancyLimiter.Registers))
        {
            int perWarp = (usage.Registers * sm.WarpSize + sm.RegisterAllocationUnit - 1) / sm.RegisterAllocationUnit * sm.RegisterAllocationUnit;
            parts.Add(string.Create(inv, $"{usage.Registers} registers/thread = {perWarp} per warp, so {sm.RegistersPerSm / sm.RegisterSubPartitions / perWarp} warps per register sub-partition, {o.GroupsByRegisters} groups of {warpsPerGroup} warps"));
        }
        if (o.LimitedBy.HasFlag(OccupancyLimiter.SharedMemory))
            parts.Add(string.Create(inv, $"{usage.SharedBytes} B shared + {sm.SharedBytesReservedPerGroup} B reserved per group, {o.GroupsBySharedMemory} groups in {sm.SharedBytesPerSm / 1024} KB"));
        if (o.LimitedBy.HasFlag(OccupancyLimiter.GroupsPerSm))
            parts.Add(string.Create(inv, $"groups of {o.GroupSize} threads hit the {sm.MaxGroupsPerSm}-groups-per-SM limit at {o.ActiveWarps} warps"));
        if (o.LimitedBy.HasFlag(OccupancyLimiter.GroupSize))
            parts.Add(string.Create(inv, $"groups of {warpsPerGroup} warps fit {o.GroupsByWarps} times in {sm.MaxWarpsPerSm} warp slots"));
        return string.Join("; ", parts);
    }

    /// <summary>Writes NAME.json and NAME.md into the folder (atomically); returns the JSON path.</summary>
    public string Save(string folder, string name) => ResultsFile.Save(this, folder, name, ToMarkdown());

    /// <summary>True when the file's "kind" says it is a resource report (so `gta bench compare` knows which comparison to run).</summary>
    public static bool IsResourceReport(string path)
    {
        if (!File.Exists(path)) return false;
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) is JsonObject o
                && o["kind"] is JsonValue v && v.TryGetValue<string>(out var kind) && kind == ReportKind;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Reads and checks a report; anything malformed is an <see cref="InvalidDataException"/> naming the file.</summary>
    public static KernelResourceReport Load(string path)
    {
        var report = ResultsFile.Read<KernelResourceReport>(path, "kernel resource report");
        if (report.Kind != ReportKind) throw new InvalidDataException($"{path}: kind '{report.Kind}', expected '{ReportKind}'");
        if (report.Schema != CurrentSchema) throw new InvalidDataException($"{path}: schema {report.Schema} is not supported (expected {CurrentSchema})");
        if (report.Results is null) throw new InvalidDataException($"{path}: no \"results\" list");
        var keys = new HashSet<(string, string)>();
        foreach (var row in report.Results)
        {
            if (row is null || string.IsNullOrWhiteSpace(row.Kernel) || string.IsNullOrWhiteSpace(row.Architecture))
                throw new InvalidDataException($"{path}: a result has no kernel or architecture");
            if (row.GroupSize <= 0 || row.Registers < 0 || row.SpillStoreBytes < 0 || row.SpillLoadBytes < 0 || !double.IsFinite(row.Occupancy) || row.Occupancy is < 0 or > 1)
                throw new InvalidDataException($"{path}: {row.Kernel} on {row.Architecture} has an impossible figure (group {row.GroupSize}, registers {row.Registers}, spills {row.SpillStoreBytes}/{row.SpillLoadBytes}, occupancy {row.Occupancy})");
            if (!keys.Add((row.Kernel, row.Architecture))) throw new InvalidDataException($"{path}: {row.Kernel} on {row.Architecture} appears twice");
        }
        return report;
    }

    /// <summary>The rows below full occupancy, lowest first (ties by name), for the report's summary.</summary>
    public IEnumerable<KernelResourceRow> LowestOccupancy() =>
        Results.Where(r => r.Occupancy < 1).OrderBy(r => r.Occupancy).ThenBy(r => r.Kernel, StringComparer.Ordinal).ThenBy(r => r.Architecture, StringComparer.Ordinal);

    public string ToMarkdown()
    {
        var inv = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.Append("# Kernel resources\n\n");
        md.Append(inv, $"Generated by `gta bench resources` at commit `{Commit}` ({Timestamp:yyyy-MM-dd HH:mm} UTC): every `[GpuKernel]` compiled to PTX ISA {PtxIsa} by ILGPU and assembled with `ptxas -v` ({Ptxas}).\n\n");
        md.Append("Occupancy is NVIDIA's theoretical occupancy (resident warps per SM over 64) at the kernel's launch group size: the launcher's fixed size, or for auto-grouped kernels the size the driver picks (`cuOccupancyMaxPotentialBlockSize`, recomputed here). Targets:\n\n");
        foreach (var sm in Targets)
            md.Append(inv, $"- **{sm.Architecture}** ({sm.Devices}): {sm.MaxWarpsPerSm} warps, {sm.MaxGroupsPerSm} groups, {sm.RegistersPerSm / 1024}K registers and {sm.SharedBytesPerSm / 1024} KB shared memory per SM; {sm.SharedBytesReservedPerGroup} B reserved per group\n");

        var architectures = Targets.Select(t => t.Architecture).ToList();
        string Both(Func<KernelResourceRow, string> cell, IReadOnlyList<KernelResourceRow> rows)
        {
            var values = rows.Select(cell).ToList();
            return values.Distinct().Count() == 1 ? values[0] : string.Join(" / ", values);
        }

        md.Append(inv, $"\n| kernel | launch | threads/group | registers | static smem | stack | spill st/ld | occupancy {string.Join(" / ", architectures)} | limited by (when < 100%) |\n");
        md.Append("|---|---|---:|---:|---:|---:|---:|---:|---|\n");
        foreach (var group in Results.GroupBy(r => r.Kernel).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var rows = architectures.Select(a => group.FirstOrDefault(r => r.Architecture == a)).OfType<KernelResourceRow>().ToList();
            string limited = Both(r => r.Occupancy < 1 ? string.Join(", ", r.LimitedBy) : "", rows);
            md.Append(inv, $"| {group.Key} | {rows[0].Launch} | {Both(r => r.GroupSize.ToString(inv), rows)} | {Both(r => r.Registers.ToString(inv), rows)} | {Both(r => r.StaticSharedBytes.ToString(inv), rows)} | {Both(r => r.StackFrameBytes.ToString(inv), rows)} | {Both(r => $"{r.SpillStoreBytes}/{r.SpillLoadBytes}", rows)} | {string.Join(" / ", rows.Select(r => r.Occupancy.ToString("P1", inv)))} | {limited.Trim(' ', '/')} |\n");
        }

        md.Append("\n## Lowest occupancy\n\n");
        var lowest = LowestOccupancy().ToList();
        if (lowest.Count == 0) md.Append("Every kernel reaches 100% theoretical occupancy on every target.\n");
        foreach (var r in lowest)
            md.Append(inv, $"- **{r.Kernel}** on {r.Architecture}: {r.Occupancy.ToString("P1", inv)} ({r.ActiveWarps} warps, {r.GroupsPerSm} groups of {r.GroupSize}), limited by {string.Join(" and ", r.LimitedBy)}: {r.Reason}.\n");
        var spilling = Results.Where(r => r.Spills).ToList();
        md.Append(inv, $"\nSpills: {(spilling.Count == 0 ? "none" : string.Join(", ", spilling.Select(r => $"{r.Kernel} on {r.Architecture} ({r.SpillStoreBytes}/{r.SpillLoadBytes} B)")))}.\n");
        return md.ToString();
    }
}

/// <summary>One kernel whose resources got worse between two reports.</summary>
public sealed record ResourceFinding(string Kernel, string Architecture, string Problem);

/// <summary>
/// Two resource reports matched by (kernel, architecture). A kernel is flagged when it newly spills
/// (base spilled nothing, new spills) or when its theoretical occupancy falls, for whatever reason
/// (usually more registers). Missing and new kernels are listed but never flagged.
/// </summary>
public sealed record ResourceComparison(
    IReadOnlyList<(KernelResourceRow Base, KernelResourceRow New)> Matched,
    IReadOnlyList<ResourceFinding> Findings,
    IReadOnlyList<string> Missing,
    IReadOnlyList<string> Added)
{
    public static ResourceComparison Compare(KernelResourceReport baseline, KernelResourceReport current)
    {
        var now = current.Results.ToDictionary(r => (r.Kernel, r.Architecture));
        var matched = new List<(KernelResourceRow, KernelResourceRow)>();
        var findings = new List<ResourceFinding>();
        var missing = new List<string>();
        var inv = CultureInfo.InvariantCulture;
        foreach (var b in baseline.Results)
        {
            if (!now.Remove((b.Kernel, b.Architecture), out var n))
            {
                missing.Add($"{b.Kernel} ({b.Architecture})");
                continue;
            }
            matched.Add((b, n));
            if (!b.Spills && n.Spills)
                findings.Add(new(n.Kernel, n.Architecture, $"newly spills: {n.SpillStoreBytes} B stored, {n.SpillLoadBytes} B loaded (registers {b.Registers} → {n.Registers})"));
            if (n.Occupancy < b.Occupancy - 1e-9)
            {
                var changes = new List<string>();
                if (n.GroupSize != b.GroupSize) changes.Add(string.Create(inv, $"group size {b.GroupSize} → {n.GroupSize}"));
                if (n.Registers != b.Registers) changes.Add(string.Create(inv, $"registers {b.Registers} → {n.Registers}"));
                if (n.StaticSharedBytes != b.StaticSharedBytes) changes.Add(string.Create(inv, $"shared memory {b.StaticSharedBytes} → {n.StaticSharedBytes} B"));
                string cause = changes.Count > 0 ? string.Join(", ", changes) : "the SM limits changed";
                findings.Add(new(n.Kernel, n.Architecture, string.Create(inv,
                    $"theoretical occupancy {b.Occupancy:P1} → {n.Occupancy:P1} ({cause}; limited by {string.Join(", ", n.LimitedBy)})")));
            }
        }
        var added = current.Results.Where(r => now.ContainsKey((r.Kernel, r.Architecture))).Select(r => $"{r.Kernel} ({r.Architecture})").ToList();
        return new ResourceComparison(matched, findings, missing, added);
    }
}
