using System.Globalization;
using System.Runtime.InteropServices;

namespace Rendezvous.Host.Commands;

/// <summary>What the commands share: stopping on Ctrl-C or SIGTERM, and whole-number options.</summary>
internal static class CommandSupport
{
    /// <summary>
    /// A token cancelled on Ctrl-C (SIGINT), SIGTERM or SIGQUIT, or when <paramref name="cancellationToken"/> is.
    /// The signals are handled (the process does not die at once) so the command can stop cleanly.
    /// </summary>
    public static Termination OnTermination(CancellationToken cancellationToken) => new(cancellationToken);

    /// <summary>
    /// The <c>--registrar URL</c> option of <c>expose</c> and <c>connect</c>, which may be given several times: the
    /// registrars of one service (a cluster's nodes), tried in order when one is down.
    /// </summary>
    public static System.CommandLine.Option<string[]> RegistrarOption(string description, bool required) => new("--registrar")
    {
        Description = description,
        HelpName = "URL",
        Required = required,
        Arity = required ? System.CommandLine.ArgumentArity.OneOrMore : System.CommandLine.ArgumentArity.ZeroOrMore,
        AllowMultipleArgumentsPerToken = false,
    };

    /// <summary>Parses every <c>--registrar</c> value; the problem names the first bad one (or too many).</summary>
    public static bool TryParseRegistrars(string[]? texts, out List<Uri> urls, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? problem)
    {
        urls = [];
        foreach (var text in texts ?? [])
        {
            if (!Rendezvous.Client.Registrar.RegistrarUrlText.TryParse(text, out var url, out var urlProblem))
            {
                problem = $"--registrar '{text}' is {urlProblem}.";
                return false;
            }

            if (!urls.Contains(url))
            {
                urls.Add(url);
            }
        }

        if (urls.Count > MaxRegistrars)
        {
            problem = $"--registrar is given {urls.Count} times; at most {MaxRegistrars} registrars are used.";
            return false;
        }

        problem = null;
        return true;
    }

    /// <summary>The most registrars <c>--registrar</c> may name.</summary>
    private const int MaxRegistrars = 8;

    /// <summary>
    /// A parser for a whole-number option whose error names the option, the value and <paramref name="accepted"/>
    /// (instead of "Cannot parse argument ... as expected type 'System.Int32'"). Range checks stay with the command.
    /// </summary>
    public static Func<System.CommandLine.Parsing.ArgumentResult, int> WholeNumber(int defaultValue, string accepted) => result =>
    {
        if (result.Tokens.Count == 0)
        {
            return defaultValue;
        }

        var text = result.Tokens[^1].Value;
        if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        var name = result.Parent is System.CommandLine.Parsing.OptionResult option ? option.Option.Name : "the value";
        result.AddError($"{name} '{text}' is not a whole number; expected {accepted}.");
        return defaultValue;
    };

    /// <summary>Stops a command on Ctrl-C, SIGTERM or SIGQUIT.</summary>
    internal sealed class Termination : IDisposable
    {
        private readonly CancellationTokenSource _cancel;
        private readonly List<PosixSignalRegistration> _signals = [];

        public Termination(CancellationToken cancellationToken)
        {
            _cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGQUIT })
            {
                _signals.Add(PosixSignalRegistration.Create(signal, context =>
                {
                    context.Cancel = true;
                    Stop();
                }));
            }
        }

        /// <summary>Cancelled when the command should stop.</summary>
        public CancellationToken Token => _cancel.Token;

        public void Dispose()
        {
            foreach (var signal in _signals)
            {
                signal.Dispose();
            }

            _cancel.Dispose();
        }

        private void Stop()
        {
            try
            {
                _cancel.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }
}
