using GtaIlgpu.Gta;
using GtaIlgpu.Rewards;

namespace GtaIlgpu.Tests.Gta;

/// <summary>Chat prompts as the families' own templates render one system turn, one user turn and the open assistant turn.</summary>
public class ChatTemplateTests
{
    [Fact]
    public void Qwen_chatml_prompt_is_exact()
    {
        Assert.Equal("<|im_start|>system\nClassify.<|im_end|>\n<|im_start|>user\n the text <|im_end|>\n<|im_start|>assistant\n",
            ChatTemplate.ChatMl.Render("Classify.", " the text "));
        Assert.Equal("<|im_end|>", ChatTemplate.ChatMl.EndOfTurn);
    }

    [Fact]
    public void Llama3_prompts_are_exact_with_and_without_the_date_lines()
    {
        Assert.Equal("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
            + "Classify.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nthe text<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            ChatTemplate.Llama31.Render(" Classify.\n", " the text "));
        Assert.Equal("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nClassify.<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nthe text<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            ChatTemplate.Llama3.Render("Classify.", "the text"));
        Assert.Equal("<|eot_id|>", ChatTemplate.Llama31.EndOfTurn);
    }

    [Fact]
    public void The_family_is_read_from_the_jinja_template_and_auto_follows_the_folder()
    {
        Assert.Same(ChatTemplate.ChatMl, ChatTemplate.FromJinja("{{ '<|im_start|>' + message['role'] }}"));
        Assert.Same(ChatTemplate.Llama31, ChatTemplate.FromJinja("{{- \"Cutting Knowledge Date: December 2023\\n\" }}<|start_header_id|>"));
        Assert.Same(ChatTemplate.Llama3, ChatTemplate.FromJinja("'<|start_header_id|>' + message['role']"));
        Assert.Null(ChatTemplate.FromJinja(null));
        string folder = Path.Combine(Path.GetTempPath(), "gta-chat-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            Assert.Null(ChatTemplate.Resolve(ChatMode.Auto, folder));
            Assert.Throws<InvalidDataException>(() => ChatTemplate.Resolve(ChatMode.On, folder));
            File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), "{\"chat_template\": \"{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}\"}");
            Assert.Same(ChatTemplate.ChatMl, ChatTemplate.Resolve(ChatMode.Auto, folder));
            Assert.Null(ChatTemplate.Resolve(ChatMode.Off, folder));
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void A_chat_prompt_holds_the_instruction_in_the_system_turn_and_the_text_in_the_user_turn()
    {
        var format = new PromptFormat(PieceTokenizer.ForTests("<|im_start|>", "<|im_end|>"), "sentiment", ["positive", "negative"],
            new PromptOptions(TagMode.Text, Chat: ChatTemplate.ChatMl));
        Assert.Equal("<|im_start|>system\nTask: sentiment. Classify the text as one of: positive, negative. Reply with a guess, a thought and an answer.<|im_end|>\n"
            + "<|im_start|>user\nthe food was great<|im_end|>\n<|im_start|>assistant\n",
            format.PromptText("the food was great", CompletionTemplate.GuessThinkAnswer));
        var ids = format.Prompt("the food was great", CompletionTemplate.GuessThinkAnswer);
        Assert.Equal(2, ids.Count(id => id == format.EndOfText)); // <|im_end|> is one token: the system and user turns end, the assistant's is open
        // Cut to fit: the text loses tokens, the turns and the open assistant turn stay.
        var cut = format.Prompt("the food was great", CompletionTemplate.GuessThinkAnswer, ids.Length - 3);
        Assert.Equal(ids.Length - 3, cut.Length);
        Assert.EndsWith("<|im_end|>\n<|im_start|>assistant\n", format.Decode(cut));
        Assert.Equal(format.InstructionTokens(CompletionTemplate.GuessThinkAnswer) + format.Encode("the food was great").Length, ids.Length);
    }
}
