using GtaIlgpu.Gta;
using GtaIlgpu.Rewards;

namespace GtaIlgpu.Tests.Gta;

/// <summary>The base's window grows only when the instruction and a completion would leave no room for the text.</summary>
public class BaseWindowTests
{
    private static PromptFormat Format(IReadOnlyList<string> labels) =>
        new(PromptFormat.BuildVocabulary(["set an alarm for seven tomorrow morning please"], labels, "intent"), "intent", labels);

    [Fact]
    public void Two_labels_keep_the_requested_window()
    {
        var format = Format(["positive", "negative"]);
        Assert.Equal(96, BaseModelBuilder.Window(96, format, 24));
    }

    [Fact]
    public void Many_labels_grow_the_window_to_a_multiple_of_16_that_leaves_room_for_text()
    {
        // MASSIVE's 18 scenario labels: the instruction alone takes most of the default window.
        string[] labels = ["alarm", "audio", "calendar", "cooking", "datetime", "email", "general", "iot", "lists", "music", "news", "play",
            "qa", "recommendation", "social", "takeaway", "transport", "weather"];
        var format = Format(labels);
        int instruction = format.LongestInstructionTokens;
        Assert.Equal(Enum.GetValues<CompletionTemplate>().Max(format.InstructionTokens), instruction);
        int completion = new GtaSettings().MaxCompletionTokens;
        Assert.True(instruction > 60, $"instruction {instruction} tokens");

        int full = instruction + completion; // a window the instruction and a completion fill: no room for text
        int window = BaseModelBuilder.Window(full, format, completion);
        Assert.Equal(0, window % 16);
        Assert.True(window - full >= BaseModelBuilder.MinTextTokens);
        Assert.True(window - 16 - full < BaseModelBuilder.MinTextTokens); // the smallest such window
        Assert.Equal(window, BaseModelBuilder.Window(window, format, completion));
        Assert.Equal(512, BaseModelBuilder.Window(512, format, completion)); // a larger request is kept
        Assert.Equal(full + 1, BaseModelBuilder.Window(full + 1, format, completion)); // so is any that leaves room for text
        // Every template's prompt of a long text then fits with its text kept, not only the instruction.
        string longText = string.Join(' ', Enumerable.Repeat("alarm", 200));
        foreach (var template in Enum.GetValues<CompletionTemplate>())
            Assert.True(format.Prompt(longText, template, window - completion).Length - format.InstructionTokens(template) >= BaseModelBuilder.MinTextTokens);
    }

    [Fact]
    public void The_window_leaves_room_for_the_runs_completion_length_not_the_default()
    {
        var format = Format(["positive", "negative"]);
        int instruction = format.LongestInstructionTokens;
        // 96 holds the instruction and a 24-token completion; a 64-token completion no longer fits beside any text.
        Assert.Equal(96, BaseModelBuilder.Window(96, format, 24));
        int grown = BaseModelBuilder.Window(96, format, 64);
        Assert.True(grown - instruction - 64 >= BaseModelBuilder.MinTextTokens, $"window {grown}");
        Assert.Equal(0, grown % 16);
    }

    [Fact]
    public void Gta_options_pass_max_completion_to_the_base()
    {
        var options = new GtaIlgpu.Cli.Commands.GtaOptions();
        var command = new System.CommandLine.Command("probe");
        options.AddTo(command);
        var parsed = command.Parse(["--max-completion", "40"]);
        Assert.Equal(40, options.Base(parsed).MaxCompletionTokens);
        Assert.Equal(new GtaSettings().MaxCompletionTokens, options.Base(command.Parse([])).MaxCompletionTokens);
    }
}
