using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Encodings.Web;

namespace Rendezvous.Server.Admin;

/// <summary>
/// A piece of HTML built only from literal markup and encoded values: in <c>Html.Of($"&lt;td&gt;{value}&lt;/td&gt;")</c>
/// every interpolated value is HTML-encoded, except another <see cref="Html"/>. So no caller can forget to encode.
/// </summary>
internal readonly struct Html
{
    private readonly string? _markup;

    private Html(string markup) => _markup = markup;

    /// <summary>No markup.</summary>
    public static Html Empty => default;

    /// <summary>Builds markup from an interpolated string, encoding every value.</summary>
    public static Html Of(ref Handler handler) => new(handler.ToStringAndClear());

    /// <summary>Concatenates pieces of markup.</summary>
    public static Html Join(IEnumerable<Html> parts) => new(string.Concat(parts.Select(p => p._markup)));

    /// <summary>The markup.</summary>
    public override string ToString() => _markup ?? string.Empty;

    /// <summary>Appends literal parts as they are and encodes every value.</summary>
    [InterpolatedStringHandler]
    public ref struct Handler
    {
        private StringBuilder? _builder;

        public Handler(int literalLength, int formattedCount)
        {
            _builder = new StringBuilder(literalLength + (formattedCount * 16));
        }

        public readonly void AppendLiteral(string literal) => _builder!.Append(literal);

        public readonly void AppendFormatted(Html html) => _builder!.Append(html._markup);

        public readonly void AppendFormatted<T>(T value) => AppendFormatted(value, null);

        public readonly void AppendFormatted<T>(T value, string? format)
        {
            var text = value is IFormattable formattable ? formattable.ToString(format, CultureInfo.InvariantCulture) : value?.ToString();
            _builder!.Append(HtmlEncoder.Default.Encode(text ?? string.Empty));
        }

        public string ToStringAndClear()
        {
            var text = _builder!.ToString();
            _builder = null;
            return text;
        }
    }
}
