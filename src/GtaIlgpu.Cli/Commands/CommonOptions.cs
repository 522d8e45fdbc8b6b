using System.CommandLine;
using GtaIlgpu.Backends;
using Spectre.Console;

namespace GtaIlgpu.Cli.Commands;

/// <summary>Options that several commands share, defined once.</summary>
public static class CommonOptions
{
    /// <summary>The base of a LoRA adapter folder given as --model (default: its adapter_config.json's base_model_name_or_path).</summary>
    public static Option<DirectoryInfo?> AdapterBase() => new("--base")
    {
        Description = "when --model is a LoRA adapter folder (PEFT's adapter_config.json + adapter_model.safetensors): its base model folder (default: the adapter's base_model_name_or_path, relative to the adapter folder)",
    };

    public static Option<string> Device() => new("--device")
    {
        Description = $"where to compute: {string.Join("|", BackendFactory.Choices)} (auto takes a CUDA GPU when present, else the CPU backend)",
        DefaultValueFactory = _ => "auto",
    };

    /// <summary>The architecture of a model built from scratch: gpt2 or llama (<see cref="GtaIlgpu.Model.ModelConfig.FromScratch"/>).</summary>
    public static Option<string> Arch(string name, string what)
    {
        var option = new Option<string>(name)
        {
            Description = $"{what}: gpt2 (learned positions, LayerNorm, GELU MLP) or llama (rotary, RMSNorm, SwiGLU, grouped-query attention with half as many KV heads)",
            DefaultValueFactory = _ => "gpt2",
        };
        option.AcceptOnlyFromAmong(GtaIlgpu.Model.ModelConfig.Architectures);
        return option;
    }

    public static Option<ulong> Seed(ulong value) => new("--seed")
    {
        Description = "seed for initialisation, data order and sampling",
        DefaultValueFactory = _ => value,
    };

    public static IBackend OpenBackend(string device)
    {
        var backend = BackendFactory.Create(device);
        AnsiConsole.MarkupLineInterpolated($"[grey]device:[/] {backend.Name} — {backend.Description}");
        return backend;
    }
}
