using Microsoft.Extensions.Configuration;
using Rendezvous.Host.Commands;

namespace Rendezvous.Host.Tests;

[NonParallelizable]
public sealed class InlineCompletionsTests
{
    private string? _saved;

    [SetUp]
    public void Save()
    {
        _saved = Environment.GetEnvironmentVariable(ServeCommand.InlineCompletionsVariable);
        Environment.SetEnvironmentVariable(ServeCommand.InlineCompletionsVariable, null);
    }

    [TearDown]
    public void Restore() => Environment.SetEnvironmentVariable(ServeCommand.InlineCompletionsVariable, _saved);

    [Test]
    public void Serve_turns_inline_socket_completions_on_by_default()
    {
        var error = ServeCommand.PreferInlineSocketCompletions(Configuration());

        Assert.That(error, Is.Null);
        Assert.That(Environment.GetEnvironmentVariable(ServeCommand.InlineCompletionsVariable), Is.EqualTo("1"));
    }

    [Test]
    public void Serve_leaves_them_off_when_configured_false()
    {
        var error = ServeCommand.PreferInlineSocketCompletions(Configuration((ServeCommand.InlineCompletionsKey, "False")));

        Assert.That(error, Is.Null);
        Assert.That(Environment.GetEnvironmentVariable(ServeCommand.InlineCompletionsVariable), Is.Null);
    }

    [Test]
    public void A_value_that_is_not_true_or_false_is_refused_by_name()
    {
        var error = ServeCommand.PreferInlineSocketCompletions(Configuration((ServeCommand.InlineCompletionsKey, "yes")));

        Assert.That(error, Does.Contain("'yes'").And.Contain("true or false"));
        Assert.That(Environment.GetEnvironmentVariable(ServeCommand.InlineCompletionsVariable), Is.Null);
    }

    [Test]
    public void An_operator_setting_of_the_variable_wins()
    {
        Environment.SetEnvironmentVariable(ServeCommand.InlineCompletionsVariable, "0");

        ServeCommand.PreferInlineSocketCompletions(Configuration());

        Assert.That(Environment.GetEnvironmentVariable(ServeCommand.InlineCompletionsVariable), Is.EqualTo("0"));
    }

    private static IConfiguration Configuration(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();
}
