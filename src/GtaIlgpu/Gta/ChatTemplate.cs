using System.Text.Json;

namespace GtaIlgpu.Gta;

/// <summary>Whether prompts use the model's chat template: auto = when its tokenizer_config.json has a chat_template.</summary>
public enum ChatMode { Auto, On, Off }

/// <summary>
/// A chat prompt as an instruct model's own chat template lays out one system turn, one user turn and the
/// open assistant turn (add_generation_prompt). The system turn holds the task, the label list and the
/// reply format; the user turn holds the text; the completion (&lt;guess&gt;…) is the assistant's reply and
/// ends with the family's end-of-turn token.
/// <para>Checked against the Jinja templates as shipped (llama.cpp keeps copies of the Hugging Face
/// tokenizer_config.json templates under models/templates):</para>
/// <list type="bullet">
/// <item>ChatML (Qwen2.5-Instruct, Qwen3): "&lt;|im_start|&gt;system\n" + system + "&lt;|im_end|&gt;\n", then
/// "&lt;|im_start|&gt;user\n" + content + "&lt;|im_end|&gt;\n", then "&lt;|im_start|&gt;assistant\n"; contents are
/// not trimmed (models/templates/Qwen-Qwen3-0.6B.jinja; the Qwen2.5-Instruct layout as in lmdeploy's
/// qwen2_5 template). Qwen3's template adds "&lt;think&gt;\n\n&lt;/think&gt;\n\n" after the assistant header only
/// when enable_thinking is false; it is NOT added here: GTA's completion carries its own think span after
/// the guess, and an empty think block before &lt;guess&gt; would put a second think pair in the turn. This
/// is the template's default rendering (enable_thinking undefined).</item>
/// <item>Llama 3.1 / 3.2 / 3.3 Instruct: "&lt;|begin_of_text|&gt;" (bos_token), then
/// "&lt;|start_header_id|&gt;system&lt;|end_header_id|&gt;\n\n" + "Cutting Knowledge Date: December 2023\n" +
/// "Today Date: " + date + "\n\n" + system|trim + "&lt;|eot_id|&gt;", the user turn
/// "&lt;|start_header_id|&gt;user&lt;|end_header_id|&gt;\n\n" + content|trim + "&lt;|eot_id|&gt;" and the open
/// "&lt;|start_header_id|&gt;assistant&lt;|end_header_id|&gt;\n\n"
/// (models/templates/meta-llama-Llama-3.2-3B-Instruct.jinja and -Llama-3.3-70B-Instruct.jinja). The
/// two date lines are emitted unconditionally by those templates, so they are kept (the model was tuned
/// with them); the date is the template's own fallback "26 Jul 2024", not today's (strftime_now), so a
/// prompt does not change from one day to the next.</item>
/// <item>Llama 3 (3.0) Instruct: the same turns without the two date lines (its template has none).</item>
/// </list>
/// The begin-of-text token is part of the text, as apply_chat_template renders it: the tokenizer must
/// not add a second one. Chat specials (&lt;|im_start|&gt;, &lt;|eot_id|&gt;, …) are encoded as single tokens
/// where the tokenizer has them as special tokens.
/// </summary>
public sealed class ChatTemplate
{
    private readonly Func<string, string> _prefix;
    private readonly string _suffix;
    private readonly bool _trimContents;

    private ChatTemplate(string name, Func<string, string> prefix, string suffix, string endOfTurn, bool trimContents, string[] specials)
    {
        Name = name;
        _prefix = prefix;
        _suffix = suffix;
        EndOfTurn = endOfTurn;
        _trimContents = trimContents;
        Specials = specials;
    }

    public string Name { get; }

    /// <summary>The token that ends the assistant's turn: where rollouts stop.</summary>
    public string EndOfTurn { get; }

    /// <summary>The template's special strings, each one token of a tokenizer that has it.</summary>
    public IReadOnlyList<string> Specials { get; }

    /// <summary>Qwen2.5-Instruct and Qwen3 (ChatML).</summary>
    public static ChatTemplate ChatMl { get; } = new("chatml",
        system => $"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n",
        "<|im_end|>\n<|im_start|>assistant\n", "<|im_end|>", trimContents: false,
        ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]);

    /// <summary>The fixed date Llama 3.1+ templates fall back to when no strftime_now is given.</summary>
    public const string LlamaDate = "26 Jul 2024";

    /// <summary>Llama 3.1 / 3.2 / 3.3 Instruct (system turn with the knowledge-cutoff and date lines).</summary>
    public static ChatTemplate Llama31 { get; } = new("llama3.1",
        system => $"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: {LlamaDate}\n\n{system.Trim()}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n",
        "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>", trimContents: true, LlamaSpecials);

    /// <summary>Llama 3 (3.0) Instruct.</summary>
    public static ChatTemplate Llama3 { get; } = new("llama3",
        system => $"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{system.Trim()}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n",
        "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>", trimContents: true, LlamaSpecials);

    private static string[] LlamaSpecials => ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|end_of_text|>"];

    /// <summary>Everything before the user's content: begin-of-text, the system turn and the user header.</summary>
    public string Prefix(string system) => _prefix(system);

    /// <summary>The user's content as the template writes it (Llama trims it).</summary>
    public string UserContent(string text) => _trimContents ? text.Trim() : text;

    /// <summary>Everything after the user's content: the end of the user turn and the open assistant turn.</summary>
    public string Suffix => _suffix;

    /// <summary>The whole prompt: system turn, user turn, assistant turn open.</summary>
    public string Render(string system, string user) => Prefix(system) + UserContent(user) + Suffix;

    /// <summary>
    /// The family a Jinja chat_template belongs to: ChatML by "&lt;|im_start|&gt;", Llama 3 by
    /// "&lt;|start_header_id|&gt;" (3.1+ when it writes "Cutting Knowledge Date"); null for any other.
    /// </summary>
    public static ChatTemplate? FromJinja(string? jinja)
    {
        if (string.IsNullOrEmpty(jinja)) return null;
        if (jinja.Contains("<|im_start|>", StringComparison.Ordinal)) return ChatMl;
        if (jinja.Contains("<|start_header_id|>", StringComparison.Ordinal))
            return jinja.Contains("Cutting Knowledge Date", StringComparison.Ordinal) ? Llama31 : Llama3;
        return null;
    }

    /// <summary>The chat_template of a folder's tokenizer_config.json (a string, or the "default" one of a list); null without one.</summary>
    public static string? ReadJinja(string folder)
    {
        string path = Path.Combine(folder, "tokenizer_config.json");
        if (!File.Exists(path)) return null;
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        if (!doc.RootElement.TryGetProperty("chat_template", out var template)) return null;
        if (template.ValueKind == JsonValueKind.String) return template.GetString();
        if (template.ValueKind == JsonValueKind.Array)
            foreach (var entry in template.EnumerateArray())
                if (entry.TryGetProperty("name", out var n) && n.GetString() == "default" && entry.TryGetProperty("template", out var t))
                    return t.GetString();
        return null;
    }

    /// <summary>
    /// The chat template to prompt a model folder with: off → none (today's plain prompt); auto → the
    /// folder's template when its tokenizer_config.json has one; on → the folder's, and an error when it
    /// has none or one of an unknown family.
    /// </summary>
    public static ChatTemplate? Resolve(ChatMode mode, string folder)
    {
        if (mode == ChatMode.Off) return null;
        string? jinja = ReadJinja(folder);
        var template = FromJinja(jinja);
        if (mode == ChatMode.On && template is null)
            throw new InvalidDataException(jinja is null
                ? $"{folder}: --chat on, but tokenizer_config.json has no chat_template"
                : $"{folder}: the chat_template is neither ChatML (Qwen) nor Llama 3's");
        return template;
    }

    /// <summary>The template of a name written by <see cref="Name"/> (chatml, llama3.1, llama3).</summary>
    public static ChatTemplate ByName(string name, string source) => name switch
    {
        "chatml" => ChatMl,
        "llama3.1" => Llama31,
        "llama3" => Llama3,
        _ => throw new InvalidDataException($"{source}: unknown chat template '{name}' (chatml, llama3.1 or llama3)"),
    };
}
